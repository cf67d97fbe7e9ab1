/*
 * The lab's tiny guest: a few KB of freestanding C that QEMU boots directly (multiboot).
 *
 * It makes live migrations real and observable without a disk or a NIC:
 *  - it prints "tick N" to the serial port every second, so the counter visibly continues on
 *    the destination host after a migration (liveness);
 *  - between timer ticks it dirties `dirty=` pages of its RAM (KiB/s = dirty * 4 * 100), so
 *    the migration has memory to copy again and again (a hot set that may not converge);
 *  - `fill=1` writes all of its RAM once at boot (a realistic resident size);
 *  - `load=P` (0-100) spins, dirtying memory, through P of every 100 timer ticks and halts
 *    through the others: it uses P % of one host CPU (a warm or hot guest); `busy=1` is load=100.
 * Otherwise it halts between ticks and costs almost no host CPU, which matters on a shared
 * two-core machine running TCG. Options come from the kernel command line (<cmdline>).
 */
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;

volatile u32 ticks;
extern void irq0_stub(void);
extern void ignore_stub(void);

struct multiboot_info { u32 flags, mem_lower, mem_upper, boot_device, cmdline; };
struct idt_entry { u16 off_lo, sel; u8 zero, type; u16 off_hi; } __attribute__((packed));
struct idt_ptr { u16 limit; u32 base; } __attribute__((packed));
static struct idt_entry idt[256];

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static void serial_init(void) {
    outb(0x3F9, 0x00); outb(0x3FB, 0x80); outb(0x3F8, 0x01); outb(0x3F9, 0x00);  /* 115200 baud */
    outb(0x3FB, 0x03); outb(0x3FA, 0xC7); outb(0x3FC, 0x0B);
}
static void putc(char c) { while (!(inb(0x3FD) & 0x20)) {} outb(0x3F8, (u8)c); }
static void puts(const char *s) { while (*s) putc(*s++); }
static void putu(u32 v) {
    char buf[12]; int i = 0;
    do { buf[i++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (i) putc(buf[--i]);
}

/* The value of "name=<number>" on the command line, or def. */
static u32 option(const char *cmdline, const char *name, u32 def) {
    for (const char *p = cmdline; p && *p; p++) {
        if (p != cmdline && p[-1] != ' ') continue;
        const char *n = name, *q = p;
        while (*n && *q == *n) { n++; q++; }
        if (*n || *q != '=') continue;
        u32 v = 0;
        for (q++; *q >= '0' && *q <= '9'; q++) v = v * 10 + (u32)(*q - '0');
        return v;
    }
    return def;
}

static void set_gate(int n, void (*fn)(void)) {
    u32 a = (u32)fn; u16 cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    idt[n].off_lo = (u16)(a & 0xFFFF); idt[n].sel = cs; idt[n].zero = 0;
    idt[n].type = 0x8E; idt[n].off_hi = (u16)(a >> 16);
}

static void timer_init(u32 hz) {
    for (int i = 0; i < 256; i++) set_gate(i, ignore_stub);
    set_gate(32, irq0_stub);
    struct idt_ptr p = { sizeof(idt) - 1, (u32)idt };
    __asm__ volatile("lidt %0" : : "m"(p));
    /* Remap the PICs to vectors 32..47 and unmask only the timer. */
    outb(0x20, 0x11); outb(0xA0, 0x11); outb(0x21, 32); outb(0xA1, 40);
    outb(0x21, 4); outb(0xA1, 2); outb(0x21, 1); outb(0xA1, 1);
    outb(0x21, 0xFE); outb(0xA1, 0xFF);
    u32 div = 1193182 / hz;
    outb(0x43, 0x36); outb(0x40, (u8)(div & 0xFF)); outb(0x40, (u8)(div >> 8));
    __asm__ volatile("sti");
}

void kmain(u32 magic, struct multiboot_info *mb) {
    serial_init();
    const char *cmdline = (magic == 0x2BADB002 && (mb->flags & 4)) ? (const char *)mb->cmdline : "";
    u32 mem_kib = (magic == 0x2BADB002 && (mb->flags & 1)) ? mb->mem_upper : 16 * 1024;
    u32 dirty = option(cmdline, "dirty", 0);
    u32 load = option(cmdline, "busy", 0) ? 100 : option(cmdline, "load", 0);
    const u32 hz = 100, start = 4u << 20;  /* our own code and stack live below 4 MiB */
    u32 end = 1024u * 1024u + mem_kib * 1024u;
    u32 pages = end > start ? (end - start) >> 12 : 0;
    puts("automigrate lab guest: "); putu(mem_kib / 1024); puts(" MiB, dirty="); putu(dirty);
    puts(" load="); putu(load); puts("\n");
    if (option(cmdline, "fill", 0))
        for (u32 a = start; a < end; a += 4) *(volatile u32 *)a = a;
    timer_init(hz);
    u32 next_page = 0, seen = 0, seconds = 0;
    for (;;) {
        u32 spinning = ticks % 100 < load;
        if (!spinning) __asm__ volatile("hlt");
        u32 now = ticks;
        u32 n = spinning ? 64 : (now != seen ? dirty : 0);
        for (u32 i = 0; i < n && pages; i++) {
            *(volatile u32 *)(start + (next_page << 12)) = now + i;
            next_page = (next_page + 1) % pages;
        }
        seen = now;
        if (now / hz != seconds) {
            seconds = now / hz;
            puts("tick "); putu(seconds); puts("\n");
        }
    }
}

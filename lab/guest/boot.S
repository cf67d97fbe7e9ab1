/* Multiboot (v1) entry of the lab guest: QEMU loads this ELF with <kernel>, no disk needed. */
    .set MB_MAGIC, 0x1BADB002
    .set MB_FLAGS, 0x00000003          /* page-aligned modules, memory info */
    .section .multiboot, "a"
    .align 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    .section .bss
    .align 16
stack_bottom:
    .skip 16384
stack_top:

    .section .text
    .global _start
_start:
    cli
    mov $stack_top, %esp
    push %ebx                          /* multiboot info */
    push %eax                          /* multiboot magic */
    call kmain
1:  cli
    hlt
    jmp 1b

    .global irq0_stub
irq0_stub:                             /* PIT tick: count it, acknowledge the PIC */
    push %eax
    incl ticks
    mov $0x20, %al
    outb %al, $0x20
    pop %eax
    iret

    .global ignore_stub
ignore_stub:
    iret

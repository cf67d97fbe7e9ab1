"""libvirt + QEMU/KVM: configuration, bounded connections, readable errors and the parsing of readings.

Shared by the libvirt platform (inventory), driver (migrations) and metric
source (samples). Nothing here touches the ORM.
"""

; asplos06-idt.s — the TSS and IDT the ASPLOS-06 nanobenchmarks share: #UD, #PF, int 0x80
; (syscall) and int 0x81 (power off, both DPL 3). The including workload defines the
; handlers invalid_opcode, page_fault, syscall and power_off.

.align 8
tss:    .dd 0, 0x9000
idt_desc:
        .db (256 * 8 - 1) & 0xFF, (256 * 8 - 1) >> 8
        .dd idt
.align 8
idt:
        .zero 6 * 8
        .dd (invalid_opcode & 0xFFFF) | 0x80000, (invalid_opcode & 0xFFFF0000) | 0x8E00   ; 6 #UD
        .zero (14 - 7) * 8
        .dd (page_fault & 0xFFFF) | 0x80000, (page_fault & 0xFFFF0000) | 0x8E00           ; 14 #PF
        .zero (0x80 - 15) * 8
        .dd (syscall & 0xFFFF) | 0x80000, (syscall & 0xFFFF0000) | 0xEF00                 ; 0x80, DPL 3
        .dd (power_off & 0xFFFF) | 0x80000, (power_off & 0xFFFF0000) | 0xEF00             ; 0x81, DPL 3
        .zero (256 - 0x82) * 8

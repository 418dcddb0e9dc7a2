; in.s — ASPLOS-06 nanobenchmark "in" (Adams & Agesen 2006, Figure 4): the kernel reads
; an I/O port ITERATIONS times. Natively the read reaches a device on the bus; a VMM
; emulates the device instead. popek bench --figure asplos06
.equ ITERATIONS, 1000
.include "asplos06-boot.s"
        mov ecx, ITERATIONS
again:  in eax, 0xE9
        dec ecx
        jnz again
        hlt
invalid_opcode:
page_fault:
syscall:
power_off:
        hlt

.include "asplos06-idt.s"

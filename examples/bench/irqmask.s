; irqmask.s — the ASPLOS-06 "cr8wr" analogue (Adams & Agesen 2006, Figure 4): the
; kernel masks and unmasks interrupts ITERATIONS times (cli; sti), as the paper's kernel
; wrote the task-priority register CR8. VX32 has no CR8; cli and sti are its interrupt
; mask, a write that needs no exit under hardware support (the VMCS holds the guest's IF)
; and none of the paper's numbers. popek bench --figure asplos06
.equ ITERATIONS, 1000
.include "asplos06-boot.s"
        mov ecx, ITERATIONS
again:  cli
        sti
        dec ecx
        jnz again
        hlt
invalid_opcode:
page_fault:
syscall:
power_off:
        hlt

.include "asplos06-idt.s"

; fault.s — the ASPLOS-06 "divzero" analogue (Adams & Agesen 2006, Figure 4): a fault
; round trip, ITERATIONS times. VX32 has no divide; ud2 raises #UD, whose handler steps
; the saved eip over it and returns. popek bench --figure asplos06
.equ ITERATIONS, 1000
.include "asplos06-boot.s"
        mov ecx, ITERATIONS
again:  ud2
        dec ecx
        jnz again
        hlt
invalid_opcode:
        push eax
        mov eax, [esp + 4]
        add eax, 8
        mov [esp + 4], eax
        pop eax
        iret
page_fault:
syscall:
power_off:
        hlt

.include "asplos06-idt.s"

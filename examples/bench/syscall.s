; syscall.s — ASPLOS-06 nanobenchmark "syscall" (Adams & Agesen 2006, Figure 4): a
; user program makes ITERATIONS system calls, each an int 0x80 whose handler returns at
; once with iret — the round trip from ring 3 to ring 0 and back. popek bench --figure asplos06
.equ ITERATIONS, 1000
.include "asplos06-boot.s"
        mov ecx, ITERATIONS
        push USER_SS
        push 0x7000
        push 0x2                      ; IF = 0, IOPL = 0
        push USER_CS
        push user
        iret
user:   int 0x80
        dec ecx
        jnz user
        int 0x81
syscall:
        iret
invalid_opcode:
page_fault:
power_off:
        hlt

.include "asplos06-idt.s"

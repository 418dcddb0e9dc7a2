; callret.s — ASPLOS-06 nanobenchmark "call/ret" (Adams & Agesen 2006, Figure 4): the
; kernel calls a function that returns at once, ITERATIONS times. A binary translator
; must look the return address up in its translation cache. popek bench --figure asplos06
.equ ITERATIONS, 1000
.include "asplos06-boot.s"
        mov ecx, ITERATIONS
again:  call leaf
        dec ecx
        jnz again
        hlt
leaf:   ret
invalid_opcode:
page_fault:
syscall:
power_off:
        hlt

.include "asplos06-idt.s"

; pte-store.s — ASPLOS-06 nanobenchmark "ptemod" (Adams & Agesen 2006, Figure 4): the
; kernel stores into an entry of its live page directory ITERATIONS times (an entry it
; never uses). Under shadow paging the directory is traced, so every store is a trace
; fault — or, once adaptive translation has noticed, a callout. popek bench --figure asplos06
.equ ITERATIONS, 1000
.include "asplos06-boot.s"
        mov ecx, ITERATIONS
again:  mov [PD + 0x200 * 4], ecx       ; a PDE the kernel never uses, in the active directory
        dec ecx
        jnz again
        hlt
invalid_opcode:
page_fault:
syscall:
power_off:
        hlt

.include "asplos06-idt.s"

; pgfault.s — ASPLOS-06 nanobenchmark "pgfault" (Adams & Agesen 2006, Figure 4): the
; kernel touches a page that is not present, ITERATIONS times; its #PF handler maps the
; page (a PTE store) and returns, the store is retried, then the kernel unmaps the page
; again (a PTE store and invlpg). popek bench --figure asplos06
.equ WINDOW, 0x200000            ; PTE 0x200 of the table: beyond the identity map
.equ FRAME, 0x40000
.equ ITERATIONS, 1000
.include "asplos06-boot.s"
        mov ecx, ITERATIONS
again:  mov [WINDOW], ecx             ; #PF: not present
        mov eax, 0
        mov [PT + (WINDOW >> 12) * 4], eax
        invlpg [WINDOW]
        dec ecx
        jnz again
        hlt
page_fault:
        push eax
        mov eax, FRAME | 3
        mov [PT + (WINDOW >> 12) * 4], eax
        pop eax
        add esp, 4                    ; the error code
        iret
invalid_opcode:
syscall:
power_off:
        hlt

.include "asplos06-idt.s"

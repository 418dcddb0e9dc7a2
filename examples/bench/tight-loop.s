; tight-loop.s — benchmark: register arithmetic and a branch, no memory operands.
; Runs until the step budget ends.
start:
        mov ecx, 0xFFFFFFFF
loop:   add eax, ecx
        xor ebx, eax
        dec ecx
        jnz loop
        hlt

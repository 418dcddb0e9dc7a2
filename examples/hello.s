; hello.s — the smallest guest: print a string on the console (port 0xE9) and halt.
;   popek run examples/hello.s

.equ CONSOLE, 0xE9

start:
        mov esi, message
next:   movzx eax, byte [esi]
        cmp eax, 0
        je done
        out CONSOLE, eax
        inc esi
        jmp next
done:   hlt

message:
        .db "Hello from VX32!\n", 0

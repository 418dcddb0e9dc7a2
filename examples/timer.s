; timer.s — an idle loop: `sti; hlt` waits for the timer, whose handler counts ticks.
; While the CPU is halted, time jumps to the next event (DESIGN §3.8). After five ticks
; the kernel halts with interrupts off: nothing can wake it, and the run ends `halted`
; with the sixth tick still pending.
;
;   popek run examples/timer.s --events examples/timer.events.json

start:
        mov esp, 0x8000
        lidt [idt_desc]
idle:
        sti                           ; the STI shadow covers the hlt: no wake-up is lost
        hlt
        mov eax, [ticks]
        cmp eax, 5
        jne idle
        cli
        mov esi, msg_done
        call print
        hlt

timer:
        push eax
        mov esi, msg_tick
        call print
        mov eax, [ticks]
        inc eax
        mov [ticks], eax
        add eax, '0'
        out 0xE9, eax
        mov eax, 10
        out 0xE9, eax
        pop eax
        iret

print:
        push eax
print_next:
        movzx eax, byte [esi]
        cmp eax, 0
        je print_done
        out 0xE9, eax
        inc esi
        jmp print_next
print_done:
        pop eax
        ret

ticks:    .dd 0
msg_tick: .db "tick ", 0
msg_done: .db "five ticks: halting with interrupts off\n", 0

idt_desc:
        .db (33 * 8 - 1) & 0xFF, (33 * 8 - 1) >> 8
        .dd idt
.align 8
idt:
        .zero 32 * 8
        .dd (timer & 0xFFFF) | 0x80000, (timer & 0xFFFF0000) | 0x8E00   ; 32: interrupt gate

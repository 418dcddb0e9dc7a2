; popf.s — the lecture's popf problem, executable.
;
; A kernel makes a critical section the x86 way: pushf, clear IF in the image, popf.
; At ring 0 that works: the timer interrupt waits until the kernel turns IF back on.
; Then the kernel is deprivileged to ring 1 (IOPL 0), as classic trap-and-emulate must do,
; and runs the same code. popf at cpl > IOPL does not trap: it silently leaves IF alone
; (DESIGN §3.4), so a VMM never learns that the guest wanted interrupts off, and the
; timer fires inside the critical section. popf is sensitive but not privileged.
;
;   popek run examples/popf.s --events examples/popf.events.json

.equ IF, 0x200
.equ RING1_CS, 0x19          ; 0x08 + 0x11 * 1 (DESIGN §3.1)
.equ RING1_SS, 0x21          ; 0x10 + 0x11 * 1

start:
        mov esp, 0x8000
        lidt [idt_desc]
        mov eax, tss
        ltr eax
        sti
        mov esi, msg_ring0
        int 0x80
        call critical_section  ; irq 32 is raised at icount 700, in the middle of it

        ; Deprivilege: iret to ring 1 with IF = 1, IOPL = 0.
        push RING1_SS
        push 0x7000
        push IF | 0x2
        push RING1_CS
        push ring1
        iret
ring1:
        mov esi, msg_ring1
        int 0x80
        call critical_section  ; irq 33 is raised at icount 2200, in the middle of it
        mov esi, msg_end
        int 0x80
        int 0x81               ; power off

; Interrupts off, some work, interrupts back on.
critical_section:
        pushf
        pop eax
        and eax, ~IF
        push eax
        popf                   ; the kernel's "cli"
        mov eax, 1
        mov [in_cs], eax
        mov ecx, 500
spin:   dec ecx
        jnz spin
        mov eax, 0
        mov [in_cs], eax
        pushf
        pop eax
        or eax, IF
        push eax
        popf                   ; the kernel's "sti"
        ret

; ---- ring 0 services -------------------------------------------------------------
; int 0x80: print the NUL-terminated string at esi.
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
        iret

; irq 32/33: the timer.
timer:
        push esi
        push eax
        mov esi, msg_tick_ok
        mov eax, [in_cs]
        cmp eax, 0
        je timer_print
        mov esi, msg_tick_bad
timer_print:
        int 0x80
        pop eax
        pop esi
        iret

poweroff:
        hlt

; ---- data ------------------------------------------------------------------------
in_cs:  .dd 0
msg_ring0:    .db "ring 0: critical section with popf-cli\n", 0
msg_ring1:    .db "ring 1 (deprivileged): the same critical section\n", 0
msg_tick_ok:  .db "  timer: interrupt delivered outside the critical section\n", 0
msg_tick_bad: .db "  timer: interrupt delivered INSIDE the critical section: popf did not clear IF\n", 0
msg_end:      .db "popf is sensitive but not privileged: classic trap-and-emulate cannot see it.\n", 0

.align 8
tss:    .dd 0, 0x9000          ; ESP0 at tr+4 (DESIGN §3.7)
idt_desc:
        .db (256 * 8 - 1) & 0xFF, (256 * 8 - 1) >> 8
        .dd idt

; Gates (DESIGN §3.7): offset 15:0, selector 0x08, byte 5 = P | DPL << 5 | type, offset 31:16.
.equ INTR_GATE, 0x8E00         ; present, DPL 0, interrupt gate (clears IF)
.equ USER_INTR_GATE, 0xEE00    ; present, DPL 3: reachable by `int` from rings 1–3
.align 8
idt:
        .zero 32 * 8
        .dd (timer & 0xFFFF) | 0x80000, (timer & 0xFFFF0000) | INTR_GATE       ; 32
        .dd (timer & 0xFFFF) | 0x80000, (timer & 0xFFFF0000) | INTR_GATE       ; 33
        .zero (0x80 - 34) * 8
        .dd (print & 0xFFFF) | 0x80000, (print & 0xFFFF0000) | USER_INTR_GATE  ; 0x80
        .dd (poweroff & 0xFFFF) | 0x80000, (poweroff & 0xFFFF0000) | USER_INTR_GATE ; 0x81
        .zero (256 - 0x82) * 8

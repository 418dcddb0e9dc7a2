; usermode.s — enter user mode with iret, make system calls with `int`, and watch a
; privileged instruction at cpl 3 trap to the kernel (#GP, through the TSS stack switch).
;
;   popek run examples/usermode.s

.equ USER_CS, 0x3B             ; 0x08 + 0x11 * 3 (DESIGN §3.1)
.equ USER_SS, 0x43             ; 0x10 + 0x11 * 3
.equ SYS_PUTC, 1
.equ SYS_EXIT, 2

start:
        mov esp, 0x8000
        lidt [idt_desc]
        mov eax, tss
        ltr eax                       ; ESP0 = 0x9000 for traps from ring 3
        push USER_SS
        push 0x7000
        push 0x202                    ; IF = 1, IOPL = 0
        push USER_CS
        push user_main
        iret                          ; to ring 3

; ---- ring 3 ---------------------------------------------------------------------
user_main:
        mov esi, msg_user
user_next:
        movzx ebx, byte [esi]
        cmp ebx, 0
        je user_try_cli
        mov eax, SYS_PUTC
        int 0x80
        inc esi
        jmp user_next
user_try_cli:
        cli                           ; cpl 3 > IOPL 0: #GP(0)
        mov eax, SYS_EXIT             ; not reached
        int 0x80

; ---- ring 0 ---------------------------------------------------------------------
; int 0x80: eax = call number, ebx = argument.
syscall:
        cmp eax, SYS_PUTC
        jne syscall_exit
        out 0xE9, ebx
        iret
syscall_exit:
        hlt

; #GP: report the faulting eip and the ring it came from, then stop.
general_protection:
        mov esi, msg_gp
        call print
        mov eax, [esp + 4]            ; the saved eip (above the error code)
        call print_hex
        mov esi, msg_cs
        call print
        mov eax, [esp + 8]            ; the saved CS: its low bits are the old cpl
        call print_hex
        mov esi, msg_nl
        call print
        hlt

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

print_hex:
        push ecx
        push edx
        mov ecx, 8
print_hex_digit:
        mov edx, eax
        shr edx, 28
        cmp edx, 10
        jb print_hex_decimal
        add edx, 'a' - 10
        jmp print_hex_out
print_hex_decimal:
        add edx, '0'
print_hex_out:
        out 0xE9, edx
        shl eax, 4
        dec ecx
        jnz print_hex_digit
        pop edx
        pop ecx
        ret

msg_user: .db "hello from ring 3, one system call per character\n", 0
msg_gp:   .db "kernel: #GP from user mode at eip 0x", 0
msg_cs:   .db ", CS 0x", 0
msg_nl:   .db "\n", 0

.align 8
tss:    .dd 0, 0x9000
idt_desc:
        .db (256 * 8 - 1) & 0xFF, (256 * 8 - 1) >> 8
        .dd idt
.align 8
idt:
        .zero 13 * 8
        .dd (general_protection & 0xFFFF) | 0x80000, (general_protection & 0xFFFF0000) | 0x8E00  ; 13 #GP
        .zero (0x80 - 14) * 8
        .dd (syscall & 0xFFFF) | 0x80000, (syscall & 0xFFFF0000) | 0xEF00   ; 0x80: trap gate, DPL 3
        .zero (256 - 0x81) * 8

; user-loop.s — benchmark (a): after boot, a user-mode loop of arithmetic, loads and
; stores on its own pages, with a system call every 256 iterations. Under a VMM almost
; every instruction should run with no exit (DESIGN §7 efficiency). Runs until the budget.
.equ PAGE_DIR, 0x10000
.equ TABLE, 0x11000
.equ USER_CS, 0x3B
.equ USER_SS, 0x43

start:
        mov esp, 0x8000
        lidt [idt_desc]
        mov eax, tss
        ltr eax
        mov ecx, 0
map:    mov eax, ecx                  ; identity map 1 MiB, user and writable
        shl eax, 12
        or eax, 7
        mov ebx, ecx
        shl ebx, 2
        mov [ebx + TABLE], eax
        inc ecx
        cmp ecx, 256
        jne map
        mov eax, TABLE | 7
        mov [PAGE_DIR], eax
        mov eax, PAGE_DIR
        mov cr3, eax
        mov eax, 0x80000001
        mov cr0, eax
        push USER_SS
        push 0x70000
        push 0x202
        push USER_CS
        push user
        iret

user:   mov esi, 0x40000
        mov ecx, 0
uloop:  mov eax, [esi]
        add eax, ecx
        xor eax, 0x5A5A
        mov [esi + 4], eax
        add esi, 8
        and esi, 0x4FFFF              ; stay within 0x40000..0x4FFFF
        or esi, 0x40000
        inc ecx
        test ecx, 0xFF
        jnz uloop
        int 0x80                      ; a system call now and then
        jmp uloop

syscall:
        iret

tss:    .dd 0, 0x9000
idt_desc:
        .db (0x81 * 8 - 1) & 0xFF, (0x81 * 8 - 1) >> 8
        .dd idt
.align 8
idt:
        .zero 0x80 * 8
        .dd (syscall & 0xFFFF) | 0x80000, (syscall & 0xFFFF0000) | 0xEF00   ; 0x80, DPL 3

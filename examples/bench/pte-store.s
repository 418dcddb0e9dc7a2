; pte-store.s — ASPLOS-06 nanobenchmark "ptemod" (Adams & Agesen 2006, Figure 4): the
; kernel stores into an entry of its live page directory ITERATIONS times (an entry it
; never uses). Under shadow paging the directory is traced, so every store is a trace
; fault — or, once adaptive translation has noticed, a callout. popek bench --figure asplos06
.equ ITERATIONS, 1000
.equ PD, 0x10000
.equ PT, 0x11000
.equ USER_CS, 0x3B               ; 0x08 + 0x11 * 3 (DESIGN §3.1)
.equ USER_SS, 0x43

start:
        mov esp, 0x8000
        mov ecx, 0
map:    mov eax, ecx                  ; identity map of the low 1 MiB, user-accessible
        shl eax, 12
        or eax, 7
        mov ebx, ecx
        shl ebx, 2
        mov [ebx + PT], eax
        inc ecx
        cmp ecx, 256
        jne map
        mov eax, PT | 7
        mov [PD], eax
        mov eax, PD
        mov cr3, eax
        mov eax, 0x80000001
        mov cr0, eax
        lidt [idt_desc]
        mov eax, tss
        ltr eax                       ; ESP0 = 0x9000
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

.align 8
tss:    .dd 0, 0x9000
idt_desc:
        .db (256 * 8 - 1) & 0xFF, (256 * 8 - 1) >> 8
        .dd idt
.align 8
idt:
        .zero 6 * 8
        .dd (invalid_opcode & 0xFFFF) | 0x80000, (invalid_opcode & 0xFFFF0000) | 0x8E00   ; 6 #UD
        .zero (14 - 7) * 8
        .dd (page_fault & 0xFFFF) | 0x80000, (page_fault & 0xFFFF0000) | 0x8E00           ; 14 #PF
        .zero (0x80 - 15) * 8
        .dd (syscall & 0xFFFF) | 0x80000, (syscall & 0xFFFF0000) | 0xEF00                 ; 0x80, DPL 3
        .dd (power_off & 0xFFFF) | 0x80000, (power_off & 0xFFFF0000) | 0xEF00             ; 0x81, DPL 3
        .zero (256 - 0x82) * 8

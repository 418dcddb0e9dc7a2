; asplos06-boot.s — the set-up the ASPLOS-06 nanobenchmarks share: a stack, an identity map
; of the low 1 MiB (user-accessible) with paging on, the IDT of asplos06-idt.s and a TSS
; whose ESP0 is 0x9000; it falls through into the workload's own code. Included at the top
; of each workload, after its ITERATIONS.

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

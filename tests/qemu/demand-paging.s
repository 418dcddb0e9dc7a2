; A #PF handled by mapping the page (error code, CR2, iret restarting the store), a
; software interrupt through a trap gate, the console: in the subset where VX32 and IA-32
; agree (docs/qemu.md), so QEMU must match the spec step for step.
.equ PD, 0x1000
.equ PT, 0x2000
start:
        mov esp, 0x8000
        lidt [idt]
        mov eax, PT | 3
        mov [PD], eax
        mov ecx, 0
fill:
        mov eax, ecx
        shl eax, 12
        or eax, 3
        mov ebx, ecx
        shl ebx, 2
        mov [ebx + PT], eax
        inc ecx
        cmp ecx, 17                     ; RAM and the page after it, popek's own under QEMU
        jne fill                        ; (GDT, exit routine: docs/qemu.md, `reserved-page`)
        mov eax, PD
        mov cr3, eax
        mov eax, 0x80000001
        mov cr0, eax
        mov eax, 0x5a
        mov [0x11010], eax        ; page 17 is not present: #PF, the handler maps it
        mov ebx, [0x11010]
        mov eax, ebx
        out 0xE9, eax
        int 0x31
        hlt
pf:
        mov eax, 0xd000 | 3
        mov [PT + 4 * 17], eax
        add esp, 4               ; drop the error code
        iret
soft:
        mov edx, 0x99
        iret
idt: .dd (0x4000 << 16) | 0x1ff, 0x4000 >> 16
.org 0x4000 + 14*8
  .dd pf | 0x80000, 0x8E00
.org 0x4000 + 0x31*8
  .dd soft | 0x80000, 0x8F00

; A guest that unmaps a page it has just read and reads it again: the second read must
; fault (DESIGN §3.6: no TLB, every access sees the tables as they are). A shadow-paging
; VMM that does not write-protect guest page tables (catalog bug no-write-protect) keeps
; the stale mapping and the read succeeds.

.equ PD, 0x1000
.equ PT, 0x2000

start:
        mov eax, PT | 3
        mov [PD], eax
        mov ecx, 0
fill:                                   ; identity-map pages 0–15, present and writable
        mov eax, ecx
        shl eax, 12
        or eax, 3
        mov ebx, ecx
        shl ebx, 2
        mov [ebx + PT], eax
        inc ecx
        cmp ecx, 16
        jne fill
        mov eax, PD
        mov cr3, eax
        mov eax, 0x80000001
        mov cr0, eax
        mov eax, [0x8000]               ; page 8 is mapped now
        mov eax, 0
        mov [PT + 4 * 8], eax           ; unmap page 8
        mov eax, [0x8000]               ; #PF; with no IDT: #GP, #DF, shutdown
        hlt

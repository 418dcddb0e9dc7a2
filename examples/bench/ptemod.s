; ptemod.s — benchmark (c): a kernel that edits a live page-table entry and uses it at
; once, over and over (Adams & Agesen's "ptemod"): a traced write and a hidden fault per
; edit under shadow paging; plain stores under nested paging. Runs until the budget.
.equ PAGE_DIR, 0x10000
.equ TABLE, 0x11000
.equ WINDOW, 0x80000             ; the linear page whose PTE is edited
.equ FRAME_A, 0x40000
.equ FRAME_B, 0x41000

start:
        mov esp, 0x8000
        mov ecx, 0
map:    mov eax, ecx
        shl eax, 12
        or eax, 3
        mov ebx, ecx
        shl ebx, 2
        mov [ebx + TABLE], eax
        inc ecx
        cmp ecx, 256
        jne map
        mov eax, TABLE | 3
        mov [PAGE_DIR], eax
        mov eax, PAGE_DIR
        mov cr3, eax
        mov eax, 0x80000001
        mov cr0, eax
        mov eax, 0xAAAA
        mov [FRAME_A], eax
        mov eax, 0xBBBB
        mov [FRAME_B], eax

edit:   mov eax, FRAME_A | 3
        mov [TABLE + (WINDOW >> 12) * 4], eax    ; remap the window to frame A
        mov ebx, [WINDOW]                        ; and use it: 0xAAAA
        mov eax, FRAME_B | 3
        mov [TABLE + (WINDOW >> 12) * 4], eax    ; remap it to frame B
        mov ebx, [WINDOW]                        ; 0xBBBB
        jmp edit

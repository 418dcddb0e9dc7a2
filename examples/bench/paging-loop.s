; paging-loop.s — benchmark: paging on, loads and stores spread over 256 pages, so
; every access translates (and an engine with a TLB sees a large working set).
.equ PAGE_DIR, 0x10000
.equ TABLE, 0x11000

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

        mov esi, 0x20000              ; data pages: 0x20000..0xFFFFF
sweep:  mov eax, [esi]
        add eax, esi
        mov [esi + 4], eax
        add esi, 0x1010               ; the next page, a little further in
        cmp esi, 0xF0000
        jb sweep
        mov esi, 0x20000
        jmp sweep

; paging.s — boot with paging off, build an identity map, turn paging on, then let a
; page-fault handler map pages on demand (the lecture's "boot with paging disabled").
;
;   popek run examples/paging.s

.equ PAGE_DIR, 0x10000
.equ LOW_TABLE, 0x11000        ; maps 0–1 MiB one-to-one
.equ HIGH_TABLE, 0x12000       ; maps 4–8 MiB, filled on demand
.equ FRAME_POOL, 0x80000       ; physical frames handed out by the fault handler
.equ PRESENT_RW, 3
.equ CR0_PG_PE, 0x80000001

start:
        mov esp, 0x8000
        lidt [idt_desc]
        mov esi, msg_boot
        call print

        ; Paging is off: linear = physical (DESIGN §3.5). Build the identity map.
        mov ecx, 0
map_low:
        mov eax, ecx
        shl eax, 12
        or eax, PRESENT_RW
        mov ebx, ecx
        shl ebx, 2
        mov [ebx + LOW_TABLE], eax
        inc ecx
        cmp ecx, 256
        jne map_low
        mov eax, LOW_TABLE | PRESENT_RW
        mov [PAGE_DIR], eax
        mov eax, HIGH_TABLE | PRESENT_RW
        mov [PAGE_DIR + 4], eax      ; PDE 1: a table whose PTEs are all not present

        mov eax, PAGE_DIR
        mov cr3, eax
        mov eax, CR0_PG_PE
        mov cr0, eax                  ; the next fetch is translated
        mov esi, msg_on
        call print

        ; Touch three fresh pages at 4 MiB: each first touch faults and is mapped.
        mov ebx, 0x400000
        mov eax, 0x11111111
        mov [ebx], eax
        mov eax, 0x22222222
        mov [ebx + 0x1000], eax
        mov eax, 0x33333333
        mov [ebx + 0x5008], eax
        mov eax, [ebx + 0x1000]       ; mapped already: no fault
        call print_hex
        mov esi, msg_nl
        call print
        mov esi, msg_count
        call print
        mov eax, [faults]
        call print_hex
        mov esi, msg_nl
        call print
        hlt

; #PF handler: map the faulting page to the next free frame, and retry.
page_fault:
        push eax
        push ebx
        mov esi, msg_fault
        call print
        mov eax, cr2
        call print_hex
        mov esi, msg_nl
        call print
        mov eax, cr2
        shr eax, 12
        and eax, 0x3FF
        shl eax, 2                    ; byte offset of the PTE
        mov ebx, [next_frame]
        or ebx, PRESENT_RW
        mov [eax + HIGH_TABLE], ebx
        mov ebx, [next_frame]
        add ebx, 0x1000
        mov [next_frame], ebx
        mov eax, [faults]
        inc eax
        mov [faults], eax
        pop ebx
        pop eax
        add esp, 4                    ; drop the error code
        iret                          ; re-executes the faulting store

; print the NUL-terminated string at esi (clobbers esi)
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

; print eax as 8 hex digits (clobbers eax)
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

faults:     .dd 0
next_frame: .dd FRAME_POOL
msg_boot:   .db "paging off: building an identity map\n", 0
msg_on:     .db "paging on\n", 0
msg_fault:  .db "  #PF at 0x", 0
msg_count:  .db "page faults: 0x", 0
msg_nl:     .db "\n", 0

idt_desc:
        .db (15 * 8 - 1) & 0xFF, (15 * 8 - 1) >> 8
        .dd idt
.align 8
idt:
        .zero 14 * 8
        .dd (page_fault & 0xFFFF) | 0x80000, (page_fault & 0xFFFF0000) | 0x8E00   ; 14 #PF

; mmio.s — the MMIO device at 0xFEE00000 (DESIGN §3.2): read its ID, read the
; self-incrementing COUNTER, append to the LOG. A byte access to the window is open bus.
; Under a VMM every one of these accesses must exit and be emulated exactly once.
;
;   popek run examples/mmio.s --json      (see "device": {counter, log})

.equ DEVICE, 0xFEE00000
.equ ID, 0x000
.equ COUNTER, 0x004
.equ LOG, 0x008

start:
        mov esp, 0x8000
        mov ebx, DEVICE
        mov esi, msg_id
        call print
        mov eax, [ebx + ID]
        call print_hex                ; 32335856: "VX32"

        mov esi, msg_counter
        call print
        mov eax, 100
        mov [ebx + COUNTER], eax      ; a write sets the counter
        mov eax, [ebx + COUNTER]      ; a read returns it, then increments it
        call print_hex
        mov esi, msg_comma
        call print
        mov eax, [ebx + COUNTER]
        call print_hex

        mov eax, 0xCAFE
        mov [ebx + LOG], eax          ; each write appends to the log
        mov eax, 0xBEEF
        mov [ebx + LOG], eax
        mov esi, msg_log
        call print
        mov eax, [ebx + LOG]          ; a read returns the log length
        call print_hex

        mov esi, msg_byte
        call print
        movzx eax, byte [ebx + ID]    ; not an aligned 4-byte access: open bus
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

msg_id:      .db "device id: ", 0
msg_counter: .db "\ncounter: ", 0
msg_comma:   .db ", then ", 0
msg_log:     .db "\nlog length after two writes: ", 0
msg_byte:    .db "\na byte read of the window (open bus): ", 0
msg_nl:      .db "\n", 0

; triple-fault.s — how faults during delivery escalate (DESIGN §3.7):
;   1. `ud2` raises #UD; its gate is not present, so delivery raises #NP (benign then
;      contributory: deliver the #NP instead);
;   2. the #NP gate is not present either: contributory then contributory is a #DF;
;   3. the #DF handler runs, then breaks the IDT and faults again: #UD → #GP (limit) →
;      #GP while delivering #GP → #DF → a fault while delivering #DF is a triple fault:
;      the CPU shuts down.
;
;   popek run examples/triple-fault.s --json     (see "trace" and "status": "shutdown")

start:
        mov esp, 0x8000
        lidt [idt_desc]
        ud2

double_fault:
        mov esi, msg_df
        call print
        lidt [empty_idt]              ; limit 0: every vector is out of bounds
        ud2

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

msg_df: .db "double fault handler: #UD -> #NP -> #NP became #DF; now breaking the IDT\n", 0

empty_idt:
        .db 0, 0
        .dd 0
idt_desc:
        .db (14 * 8 - 1) & 0xFF, (14 * 8 - 1) >> 8
        .dd idt
.align 8
idt:
        .zero 8 * 8                   ; vectors 0–7, #UD (6) among them: not present
        .dd (double_fault & 0xFFFF) | 0x80000, (double_fault & 0xFFFF0000) | 0x8E00   ; 8 #DF
        .zero 5 * 8                   ; vectors 9–13, #NP (11) and #GP (13) among them: not present

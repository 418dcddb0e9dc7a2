; forkwait.s — the ASPLOS-06 macrobenchmark "forkwait" (Adams & Agesen 2006, Figure 4:
; 40,000 fork/wait pairs of a process), in VX32: fork.s with an end. ITERATIONS times the
; kernel builds a child address space (a fresh page directory and table, the kernel mapped,
; 8 fresh user pages), switches to it, lets the child touch its pages, switches back and
; tears the child down. popek bench --figure asplos06
.equ ITERATIONS, 100
.equ PARENT_DIR, 0x10000
.equ KERNEL_TABLE, 0x11000
.equ CHILD_DIR, 0x20000
.equ CHILD_TABLE, 0x21000
.equ CHILD_PAGES, 0x30000        ; 8 frames the child gets, fresh each time
.equ CHILD_VA, 0x400000          ; where the child sees them (PDE 1)

start:
        mov esp, 0x8000
        mov ecx, 0
map:    mov eax, ecx                  ; kernel: identity map of 1 MiB
        shl eax, 12
        or eax, 3
        mov ebx, ecx
        shl ebx, 2
        mov [ebx + KERNEL_TABLE], eax
        inc ecx
        cmp ecx, 256
        jne map
        mov eax, KERNEL_TABLE | 3
        mov [PARENT_DIR], eax
        mov eax, PARENT_DIR
        mov cr3, eax
        mov eax, 0x80000001
        mov cr0, eax
        mov edi, ITERATIONS

fork:   ; build the child: directory with the kernel table and its own table
        mov eax, KERNEL_TABLE | 3
        mov [CHILD_DIR], eax
        mov eax, CHILD_TABLE | 3
        mov [CHILD_DIR + 4], eax
        mov ecx, 0
fill:   mov eax, ecx                  ; child PTE i → CHILD_PAGES + i*4K
        shl eax, 12
        add eax, CHILD_PAGES | 3
        mov ebx, ecx
        shl ebx, 2
        mov [ebx + CHILD_TABLE], eax
        inc ecx
        cmp ecx, 8
        jne fill
        mov eax, CHILD_DIR
        mov cr3, eax                  ; run the child
        mov esi, CHILD_VA
        mov ecx, 8
touch:  mov [esi], ecx                ; touch each fresh page
        mov eax, [esi + 0x800]
        add esi, 0x1000
        dec ecx
        jnz touch
        mov eax, PARENT_DIR
        mov cr3, eax                  ; back to the parent ("wait")
        mov ecx, 0
clear:  mov eax, 0                    ; tear the child down
        mov ebx, ecx
        shl ebx, 2
        mov [ebx + CHILD_TABLE], eax
        inc ecx
        cmp ecx, 8
        jne clear
        mov [CHILD_DIR + 4], eax
        dec edi
        jnz fork
        hlt

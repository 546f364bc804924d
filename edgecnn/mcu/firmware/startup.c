/* Minimal Cortex-M startup for QEMU's MPS2 boards (mps2-an386: Cortex-M4F; mps2-an500:
 * Cortex-M7). Board-specific: the vector table size, the memory map (linker script) and
 * the FPU enable. Semihosting (newlib's librdimon) gives printf and exit. */
#include <stdint.h>
#include <string.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack, _sstack;
extern int main(void);
extern void exit(int);
extern void __libc_init_array(void);

#define STACK_PAINT 0xC5C5C5C5u
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define CPACR (*(volatile uint32_t *)0xE000ED88u)

void *__dso_handle = 0;  /* no crt files: C++ static destructors registration */
void _init(void) {}
void _fini(void) {}

static volatile uint32_t systick_wraps;

void SysTick_Handler(void) { systick_wraps++; }

uint64_t edgecnn_ticks(void) {
  uint32_t wraps, value;
  do {
    wraps = systick_wraps;
    value = SYST_CVR;
  } while (wraps != systick_wraps);
  return (uint64_t)wraps * 0x1000000u + (0xFFFFFFu - value);
}

/* Exactly 2 instructions per iteration (subs + bne): calibrates ticks -> instructions. */
__attribute__((naked, noinline)) void edgecnn_calibration_loop(uint32_t n) {
  __asm volatile("1: subs r0, r0, #1\n bne 1b\n bx lr\n");
}

uint32_t edgecnn_stack_used(void) {
  const uint32_t *p = &_sstack;
  while (p < &_estack && *p == STACK_PAINT) p++;
  return (uint32_t)((const char *)&_estack - (const char *)p);
}

static void fault(void) { exit(99); }
void HardFault_Handler(void) { fault(); }
void Default_Handler(void) { fault(); }

__attribute__((naked, noreturn)) void Reset_Handler(void) {
  /* Enable the FPU (CP10, CP11) before any C code may touch floating-point registers. */
  __asm volatile(
      "ldr r0, =0xE000ED88\n"
      "ldr r1, [r0]\n"
      "orr r1, r1, #(0xF << 20)\n"
      "str r1, [r0]\n"
      "dsb\n isb\n"
      "b reset_c\n");
}

__attribute__((used, noreturn)) void reset_c(void) {
  uint32_t *src = &_sidata, *dst = &_sdata;
  while (dst < &_edata) *dst++ = *src++;
  for (dst = &_sbss; dst < &_ebss; ) *dst++ = 0;
  /* Paint the stack below the current frame to find its high-water mark later. */
  uint32_t *sp;
  __asm volatile("mov %0, sp" : "=r"(sp));
  for (dst = &_sstack; dst < sp - 16; ) *dst++ = STACK_PAINT;
  SYST_RVR = 0xFFFFFFu;
  SYST_CVR = 0;
  SYST_CSR = 7; /* processor clock, interrupt, enable */
  __libc_init_array();
  exit(main());
  for (;;) {}
}

__attribute__((section(".isr_vector"), used)) void (*const vector_table[16])(void) = {
    (void (*)(void))(&_estack), Reset_Handler, Default_Handler, HardFault_Handler,
    Default_Handler, Default_Handler, Default_Handler, 0, 0, 0, 0,
    Default_Handler, Default_Handler, 0, Default_Handler, SysTick_Handler,
};

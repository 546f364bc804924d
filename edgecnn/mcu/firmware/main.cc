// edgecnn MCU example: runs the int8 model on the test inputs in test_inputs.cc with
// TensorFlow Lite Micro and prints each output over semihosting. It is the firmware that
// `edgecnn verify --platform cortex-m4` builds and boots in QEMU, unchanged.
//
// Board-specific: only the timer (SysTick, for counting) and the console (semihosting
// printf). The model, the op resolver and the arena come from the bundle's own files.
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_log.h"
#include "tensorflow/lite/schema/schema_generated.h"

#include "model_setup.h"  // RegisterOps(), resolver, tensor_arena: taken verbatim from README.md
#include "model_data.h"   // MODEL_DATA: the exported C array of the .tflite flatbuffer
#include "test_inputs.h"  // kNumTestInputs int8 inputs, already quantized on the host

extern "C" void initialise_monitor_handles(void);
extern "C" uint32_t edgecnn_stack_used(void);   // startup.c: painted stack, deepest use
extern "C" uint64_t edgecnn_ticks(void);        // startup.c: SysTick ticks since boot
extern "C" void edgecnn_calibration_loop(uint32_t iterations);  // startup.c: 2 instructions each
extern "C" void* _sbrk(int increment);  // newlib heap (printf buffers)
extern "C" char end;                     // linker script: heap start

#ifndef EDGECNN_KERNELS
#define EDGECNN_KERNELS "reference"
#endif

int main() {
  initialise_monitor_handles();  // newlib semihosting: before any output
  printf("EDGECNN-MCU 1\nkernels %s\n", EDGECNN_KERNELS);

  // Instructions per SysTick tick under `qemu -icount shift=0`: time a loop of known length.
  const uint32_t kCalib = 1000000;
  uint64_t t0 = edgecnn_ticks();
  edgecnn_calibration_loop(kCalib);
  uint64_t t1 = edgecnn_ticks();
  uint64_t e0 = edgecnn_ticks();
  uint64_t e1 = edgecnn_ticks();
  printf("calibration %lu %llu %llu\n", (unsigned long)(2 * kCalib), (unsigned long long)(t1 - t0),
         (unsigned long long)(e1 - e0));

  RegisterOps();
  const tflite::Model* model = tflite::GetModel(MODEL_DATA);
  if (model->version() != TFLITE_SCHEMA_VERSION) {
    printf("error schema %lu\n", (unsigned long)model->version());
    return 2;
  }
  tflite::MicroInterpreter interpreter(model, resolver, tensor_arena, kTensorArenaSize);
  if (interpreter.AllocateTensors() != kTfLiteOk) {
    printf("error AllocateTensors failed (arena %d bytes)\n", kTensorArenaSize);
    return 3;
  }
  TfLiteTensor* input = interpreter.input(0);
  TfLiteTensor* output = interpreter.output(0);
  printf("arena_size %d\narena_used %lu\n", kTensorArenaSize, (unsigned long)interpreter.arena_used_bytes());
  printf("input %lu output %lu\n", (unsigned long)input->bytes, (unsigned long)output->bytes);
  if (input->type != kTfLiteInt8 || output->type != kTfLiteInt8 || input->bytes != kTestInputBytes) {
    printf("error expected int8 input of %lu bytes and int8 output\n", (unsigned long)kTestInputBytes);
    return 4;
  }
  for (int i = 0; i < kNumTestInputs; ++i) {
    std::memcpy(input->data.int8, kTestInputs[i], kTestInputBytes);
    uint64_t start = edgecnn_ticks();
    TfLiteStatus status = interpreter.Invoke();
    uint64_t ticks = edgecnn_ticks() - start;
    if (status != kTfLiteOk) {
      printf("error Invoke failed on input %d\n", i);
      return 5;
    }
    printf("out %d %llu", i, (unsigned long long)ticks);
    for (size_t k = 0; k < output->bytes; ++k) printf(" %d", output->data.int8[k]);
    printf("\n");
  }
  printf("heap_used %lu\n", (unsigned long)((char*)_sbrk(0) - &end));
  printf("stack_used %lu\ndone\n", (unsigned long)edgecnn_stack_used());
  return 0;
}

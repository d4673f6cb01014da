// The safetensors module: validated lazy reader, byte-compatible writers, dtype conversion.
export { openSafetensors, type SafetensorsFile, type TensorEntry } from './reader'
export { writeSafetensors, SafetensorsStreamWriter, type TensorToWrite, type PlannedTensor, type LaidOutTensor } from './writer'
export { DTYPE_BYTES, decodeToF32, decodeIntoF32, encodeFromF32, f32ToBf16Bits, bf16BitsToF32, f32ToF16Bits, f16BitsToF32, firstNonFinite, f16Overflow } from './dtype'
export { buildHeader, parseHeader, parseHeaderLength, MAX_HEADER_BYTES } from './header'

//! pickle: value graph, unpickler, pickler, copyreg registry, disassembler.

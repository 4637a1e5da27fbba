@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMcp(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt { 0 }

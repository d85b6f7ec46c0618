import Foundation
import HandoffFuzzing

// `handoff-fuzz`: built with `-sanitize=fuzzer -DFUZZING` (see `make fuzz`), it hands control to libFuzzer,
// which calls `fuzzOne` with the inputs it makes, guided by coverage; HANDOFF_FUZZ names the target (workflow,
// expression, json, pattern) and libFuzzer's own flags follow. Built without FUZZING, it runs each file named on
// the command line through the target once, which replays what the fuzzer saved.

let target = ProcessInfo.processInfo.environment["HANDOFF_FUZZ"].flatMap(FuzzTargets.Target.init) ?? .workflow

func fuzzOne(_ data: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    if let problem = FuzzTargets.run(target, bytes) {
        // libFuzzer saves an input when the process dies on it.
        FileHandle.standardError.write(Data("handoff-fuzz: \(problem)\n".utf8))
        abort()
    }
    return 0
}

#if FUZZING
/// libFuzzer's usual entry point; its driver refers to it, though `main` passes `fuzzOne` directly.
@_cdecl("LLVMFuzzerTestOneInput")
public func LLVMFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    fuzzOne(data, count)
}

/// libFuzzer's driver (`-sanitize=fuzzer` links it): runs the fuzzing loop with the command line's flags.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32
#endif

@main
struct Fuzz {
    static func main() {
        #if FUZZING
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(runFuzzerDriver(&argc, &argv) { data, count in fuzzOne(data, count) })
        #else
        for path in CommandLine.arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else {
                FileHandle.standardError.write(Data("handoff-fuzz: can't read \(path)\n".utf8))
                exit(1)
            }
            _ = data.withUnsafeBytes { fuzzOne($0.bindMemory(to: UInt8.self).baseAddress, $0.count) }
            print("ok: \(path)")
        }
        #endif
    }
}

import Foundation
import Jobs

/// Every verb of the tool, in the order `dlp --help` lists them.
enum Verbs {
    static let all: [any Command.Type] = [
        InspectCommand.self, TokenizeCommand.self, PerplexityCommand.self, EvalCommand.self, PruneCommand.self, FinetuneCommand.self,
        ConvertCommand.self, AllocateCommand.self, CalibrationCommand.self, ExperimentCommand.self, ResultsCommand.self, JobCommand.self,
        GenerateCommand.self, BenchCommand.self,
    ]
}

/// OpenBLAS picks its kernels from `OPENBLAS_CORETYPE` when the library loads, before `main`.
/// An inherited value such as `Haswell` halves GEMM speed on AVX-512 machines, so the tool
/// re-executes itself once without it and lets OpenBLAS detect the CPU.
func reexecWithoutForcedBLASCore() {
    guard let forced = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"], !forced.isEmpty,
          ProcessInfo.processInfo.environment["DLP_KEEP_OPENBLAS_CORETYPE"] == nil else { return }
    unsetenv("OPENBLAS_CORETYPE")
    let args = CommandLine.arguments
    var cArgs = args.map { strdup($0) } + [nil]
    execv("/proc/self/exe", &cArgs)
    // execv only returns on failure: carry on with the slower kernels.
}

func printUsage() {
    var text = "usage: dlp VERB [options]   (dlp VERB --help for details)\n\nverbs:\n"
    for command in Verbs.all { text += "  \(command.name.padding(toLength: 12, withPad: " ", startingAt: 0))\(command.summary)\n" }
    FileHandle.standardError.write(Data(text.utf8))
}

func main() -> Int32 {
    reexecWithoutForcedBLASCore()
    var args = Array(CommandLine.arguments.dropFirst())
    guard let verb = args.first, verb != "--help", verb != "-h" else {
        printUsage()
        return args.isEmpty ? 64 : 0
    }
    args.removeFirst()
    guard let type = Verbs.all.first(where: { $0.name == verb }) else {
        FileHandle.standardError.write(Data("dlp: unknown verb '\(verb)'\n".utf8))
        printUsage()
        return 64
    }
    if args.contains("--help") || args.contains("-h") {
        print(type.usage)
        return 0
    }
    Interruption.install(verb: verb, what: { type.interruptedMessage })
    // A signal handler removing unfinished output makes the work in flight fail; it then exits
    // with the signal's status, so no failure is reported for it here.
    defer { Interruption.waitIfInterrupting() }
    do {
        var arguments = Arguments(args, declared: type.options)
        let command = try type.init(arguments: &arguments)
        try arguments.finish()
        try command.run()
        return 0
    } catch where Interruption.isInterrupting {
        return 1
    } catch let error as UsageError {
        FileHandle.standardError.write(Data("dlp \(verb): \(error.description)\n\n\(type.usage)\n".utf8))
        return 64
    } catch let error as JobError where error.isUsageError {
        FileHandle.standardError.write(Data("dlp \(verb): \(error.description)\n".utf8))
        return 64
    } catch {
        FileHandle.standardError.write(Data("dlp \(verb): error: \(describe(error))\n".utf8))
        return 1
    }
}

/// The message for a runtime failure: the error's own description, except for file-system errors
/// from Foundation, which are said plainly with the path and what to do.
func describe(_ error: Error) -> String {
    let ns = error as NSError
    guard ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain else { return "\(error)" }
    let underlying = (ns.userInfo[NSUnderlyingErrorKey] as? Error).map { $0 as NSError }
    var posix = ns.domain == NSPOSIXErrorDomain ? ns.code : (underlying?.domain == NSPOSIXErrorDomain ? underlying!.code : nil)
    if posix == nil, ns.domain == NSCocoaErrorDomain {
        switch CocoaError.Code(rawValue: ns.code) {
        case .fileWriteOutOfSpace: posix = Int(ENOSPC)
        case .fileWriteVolumeReadOnly: posix = Int(EROFS)
        case .fileWriteNoPermission: posix = Int(EACCES)
        default: break
        }
    }
    let path = (ns.userInfo[NSFilePathErrorKey] as? String) ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path ?? "a file"
    switch posix.flatMap({ POSIXErrorCode(rawValue: Int32($0)) }) {
    case .ENOSPC?, .EDQUOT?:
        return "no space left on the device while writing \(path); free space there or choose another output (unfinished files were removed, an earlier output is unchanged)"
    case .EROFS?:
        return "cannot write \(path): the file system is read-only; choose another output"
    case .EACCES?, .EPERM?:
        return "cannot write \(path): permission denied; choose another output or fix its permissions"
    default:
        return "\(path): \(underlying?.localizedDescription ?? ns.localizedDescription)"
    }
}

exit(main())

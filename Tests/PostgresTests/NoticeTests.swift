import Foundation
#if canImport(Glibc)
import Glibc
#endif
import HandoffTestSupport
import Postgres
import Testing

@Suite struct NoticeTests {
    /// Regression: libpq's default notice processor printed the server's warnings (`WARNING:  …`) on stderr, in
    /// the middle of a command's output.
    @Test func serverWarningsNeverReachStderr() async throws {
        let database = try await TestDatabase.make()
        let connection = try database.connect()
        let capture = FileManager.default.temporaryDirectory.appendingPathComponent("stderr-\(UUID()).txt")
        _ = FileManager.default.createFile(atPath: capture.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: capture) }
        let saved = dup(STDERR_FILENO)
        let file = open(capture.path, O_WRONLY)
        dup2(file, STDERR_FILENO)
        // COMMIT outside a transaction: the server answers with a WARNING notice (stderr is unbuffered).
        let result = Result { try connection.execute("COMMIT") }
        dup2(saved, STDERR_FILENO)
        close(file)
        close(saved)
        _ = try result.get()
        let written = try String(contentsOf: capture, encoding: .utf8)
        #expect(!written.contains("there is no transaction in progress"), "\(written)")
    }
}

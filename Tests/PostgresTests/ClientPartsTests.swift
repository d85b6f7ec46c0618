import Dispatch
import Foundation
import Identifiers
import HandoffTestSupport
import Postgres
import Testing

/// The parts around the connection: random UUIDs, child processes, libpq's environment.
@Suite struct ClientPartsTests {
    @Test func randomUUIDsAreVersionFourWithTheirCanonicalLowercaseText() {
        var seen = Set<UUID>()
        for _ in 0..<5_000 {  // more than one 4 KiB buffer of random bytes
            let uuid = RandomUUID.make()
            #expect(seen.insert(uuid).inserted, "a UUID came out twice")
            let text = uuid.lowercaseText
            #expect(text == uuid.uuidString.lowercased())
            #expect(UUID(uuidString: text) == uuid)
            let bytes = withUnsafeBytes(of: uuid.uuid) { Array($0) }
            #expect(bytes[6] >> 4 == 4, "version 4")
            #expect(bytes[8] >> 6 == 0b10, "the RFC 9562 variant")
        }
        // Random bits, not a counter: across the set every bit position outside version and variant takes both values.
        let ones = seen.reduce(into: [Int](repeating: 0, count: 128)) { counts, uuid in
            withUnsafeBytes(of: uuid.uuid) { raw in
                for bit in 0..<128 where raw[bit / 8] & (0x80 >> (bit % 8)) != 0 { counts[bit] += 1 }
            }
        }
        let fixed: Set<Int> = [48, 49, 50, 51, 64, 65]
        for bit in 0..<128 where !fixed.contains(bit) {
            #expect((1_500...3_500).contains(ones[bit]), "bit \(bit) was set in \(ones[bit]) of 5,000")
        }
    }

    @Test func aChildStartedFromADispatchThreadBlocksAndIgnoresNoSignal() async throws {
        // Dispatch's worker threads block most signals; a child must not inherit that (pgbench's -T waits for
        // SIGALRM, and a child that cannot get SIGTERM cannot be stopped).
        let output: String = try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result {
                    try ChildProcess.run("/bin/sh", ["-c", "grep -E '^Sig(Blk|Ign)' /proc/self/status"]).output
                })
            }
        }
        let lines = output.split(separator: "\n").map(String.init)
        #expect(lines.count == 2, "got: \(output)")
        for line in lines {
            // Signals 1 to 31; 32 and 33 are the C library's own (NPTL), out of reach of sigfillset and of users.
            let mask = line.split(separator: "\t").last.flatMap { UInt64($0, radix: 16) }
            #expect(mask.map { $0 & 0x7FFF_FFFF } == 0, "\(line)")
        }
    }

    @Test func aConnectionBecomesLibpqsEnvironmentVariables() throws {
        let keywords = ConnectionConfiguration(
            "host=127.0.0.1 port=6543 user=handoff password=s3cret dbname=first", database: "second",
            applicationName: "handoff-bench")
        #expect(try keywords.libpqEnvironment() == [
            "PGHOST": "127.0.0.1", "PGPORT": "6543", "PGUSER": "handoff", "PGPASSWORD": "s3cret",
            "PGDATABASE": "second", "PGAPPNAME": "handoff-bench",
        ])
        let url = try ConnectionConfiguration("postgres://ann:pw@db.example:5433/handoff?sslmode=require")
            .libpqEnvironment()
        #expect(url["PGHOST"] == "db.example" && url["PGPORT"] == "5433" && url["PGUSER"] == "ann")
        #expect(url["PGPASSWORD"] == "pw" && url["PGDATABASE"] == "handoff" && url["PGSSLMODE"] == "require")
    }

    @Test func aConnectionStringLibpqCannotReadIsRefusedWithItsReason() {
        let error = #expect(throws: PostgresError.self) {
            try ConnectionConfiguration("host=127.0.0.1 nonsense_keyword=1").libpqEnvironment()
        }
        #expect(error?.kind == .invalidArgument)
        #expect(error?.message.contains("nonsense_keyword") == true, "\(String(describing: error?.message))")
    }

    @Test func everyParameterTravelsByteForByteAndANulByteIsRefusedBeforeAnythingIsSent() async throws {
        let database = try await TestDatabase.make()
        let texts: [String?] = ["", "naïve ✓ 日本", nil, String(repeating: "x", count: 70_000), "'; --", nil, "last"]
        let echoed = try await database.pool.withConnection { connection in
            try connection.query(
                "SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text", texts
            ).rows[0]
        }
        for (index, text) in texts.enumerated() {
            #expect(echoed.optionalString(index) == text, "parameter \(index + 1)")
        }
        try await database.pool.withConnection { connection in
            try connection.execute("CREATE TABLE nul_probe (note text)")
        }
        for statement in ["INSERT INTO nul_probe VALUES ($1)"] {
            let single = await #expect(throws: PostgresError.self) {
                try await database.pool.withConnection { connection in
                    try connection.query(statement, ["before\u{0}after"])
                }
            }
            #expect(single?.kind == .invalidArgument && single?.message.contains("NUL") == true)
            let pipelined = await #expect(throws: PostgresError.self) {
                try await database.pool.withConnection { connection in
                    try connection.pipeline([(statement, ["fine"]), (statement, ["before\u{0}after"])])
                }
            }
            #expect(pipelined?.kind == .invalidArgument)
        }
        #expect(try await database.column("SELECT count(*) FROM nul_probe") == ["0"])
    }
}

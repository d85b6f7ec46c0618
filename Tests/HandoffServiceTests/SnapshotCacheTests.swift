import Foundation
import Testing

@testable import HandoffCore
@testable import HandoffService

/// The engine's cache of committed onboarding states: bounded, keeping the states remembered last.
@Suite("The snapshot cache")
struct SnapshotCacheTests {
    static func folded(_ onboardingId: String, version: Int) -> FoldedOnboarding {
        var state = OnboardingState(
            started: OnboardingStarted(
                onboardingId: onboardingId, workflowId: "mail-send", workflowVersion: 1, contentHash: "hash",
                inputs: [:]))
        state.version = version
        return FoldedOnboarding(state: state, startedAt: Date(timeIntervalSince1970: 0), updatedAt: Date())
    }

    @Test func aFullCacheHoldsAtMostItsCapacityAndKeepsTheStatesRememberedLast() {
        let cache = SnapshotCache(capacity: 100)
        for index in 0..<1_000 {
            cache.remember(Self.folded("onboarding-\(index)", version: 1))
            #expect(cache.count <= 100)
        }
        // The last half of the capacity is always there; the first states went long ago.
        for index in 950..<1_000 {
            #expect(cache.snapshot("onboarding-\(index)")?.state.version == 1, "onboarding-\(index)")
        }
        for index in 0..<800 {
            #expect(cache.snapshot("onboarding-\(index)") == nil, "onboarding-\(index)")
        }
    }

    /// Regression: evicting the first entry of the dictionary's storage on every insertion packed the rest into
    /// ever longer probe sequences (half the client's time in `bench claim` once 10,000 onboardings were known).
    /// The cache now drops a whole generation at once; this pins that an onboarding changed again survives the
    /// turnover of the others, as the states a command will need next should.
    @Test func anOnboardingChangedAgainMovesToTheCurrentGenerationAndStays() {
        let cache = SnapshotCache(capacity: 10)
        cache.remember(Self.folded("busy", version: 1))
        for round in 0..<20 {
            for index in 0..<4 {
                cache.remember(Self.folded("other-\(round)-\(index)", version: 1))
            }
            let version = cache.snapshot("busy")?.state.version
            #expect(version == round + 1, "round \(round)")
            cache.remember(Self.folded("busy", version: round + 2))
        }
        #expect(cache.count <= 10)
    }

    @Test func anEarlierStateNeverReplacesALaterOne() {
        let cache = SnapshotCache(capacity: 4)
        cache.remember(Self.folded("a", version: 5))
        cache.remember(Self.folded("a", version: 3))
        #expect(cache.snapshot("a")?.state.version == 5)
        // Also when the later state has moved to the previous generation.
        cache.remember(Self.folded("b", version: 1))
        cache.remember(Self.folded("c", version: 1))
        cache.remember(Self.folded("a", version: 4))
        #expect(cache.snapshot("a")?.state.version == 5)
        cache.remember(Self.folded("a", version: 6))
        #expect(cache.snapshot("a")?.state.version == 6)
        #expect(cache.count <= 4)
    }
}

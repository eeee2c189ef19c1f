using KpuEdge.Crypto;

namespace KpuEdge.Cloud.Ingest;

/// <summary>One accepted (or candidate) link of a device's chain: what it signed about its own history.</summary>
public sealed record ChainLink(ulong Sequence, Sha256Hash Hash, Sha256Hash PreviousHash, DateTimeOffset DeviceTime);

[GenerateSerializer]
public enum ChainVerdictKind
{
    /// <summary>Links to what came before (or is the first); nothing to report.</summary>
    Linked,
    /// <summary>Accepted, but earlier sequence numbers are missing: they may still be in flight, or never come.</summary>
    Gap,
    /// <summary>Refused: a second, different history — another form with the same number, or a link that contradicts its neighbours.</summary>
    Fork,
    /// <summary>Refused: the device's counter went backwards while its clock went forwards (restored, reset or cloned).</summary>
    Rewind,
    /// <summary>Refused: the number lies far beyond anything the device has sent — a forged counter or a cloned key, never counted.</summary>
    Jump,
}

public sealed record ChainVerdict(ChainVerdictKind Kind, string Detail, ulong MissingFrom = 0, ulong MissingTo = 0)
{
    public bool Refused => Kind is ChainVerdictKind.Fork or ChainVerdictKind.Rewind or ChainVerdictKind.Jump;
}

/// <summary>
/// Judges a new submission against the device's chain (each submission carries its sequence number and the hash of
/// the device's previous one). Forms legitimately arrive out of order — five contests in flight, resends over bad
/// links — so a lower number is fine as long as it fits between its accepted neighbours. Identical resends are
/// duplicates and never reach this judge.
/// </summary>
public static class DeviceChain
{
    /// <summary>The default of <c>Cloud:MaxSequenceJump</c>.</summary>
    public const ulong DefaultMaxJump = 1_000;

    /// <param name="head">The device's highest accepted link, if any.</param>
    /// <param name="predecessor">The accepted link with sequence n−1, if any.</param>
    /// <param name="sameSequence">An accepted link with the same sequence (different content), if any.</param>
    /// <param name="successor">The accepted link with sequence n+1, if any.</param>
    /// <param name="maxJump">How far beyond the head (or beyond 0, for a device's first form) a number may lie: a device
    /// signs a handful of forms and corrections, so one numbered a million ahead did not come from its counter.</param>
    public static ChainVerdict Judge(ChainLink candidate, ChainLink? head, ChainLink? predecessor, ChainLink? sameSequence, ChainLink? successor,
        ulong maxJump = DefaultMaxJump)
    {
        ulong n = candidate.Sequence;
        if (n == 0) return new ChainVerdict(ChainVerdictKind.Fork, "sequence numbers start at 1");
        ulong top = head?.Sequence ?? 0;
        if (n > top && n - top > maxJump)
            return new ChainVerdict(ChainVerdictKind.Jump,
                $"sequence {n} lies {n - top} beyond the device's newest accepted sequence {top} (at most {maxJump})");
        // A clock can be set back (RTC reset, manual fix) between two forms; a form its accepted successor names was
        // signed before that successor, whatever its clock says, so only time without such proof can tell a rewind.
        bool namedBySuccessor = successor is not null && successor.PreviousHash == candidate.Hash;
        if (head is not null && n <= head.Sequence && candidate.DeviceTime > head.DeviceTime && !namedBySuccessor)
            return new ChainVerdict(ChainVerdictKind.Rewind,
                $"sequence {n} signed at {candidate.DeviceTime:O}, after sequence {head.Sequence} signed at {head.DeviceTime:O}");
        if (sameSequence is not null)
            return new ChainVerdict(ChainVerdictKind.Fork, $"sequence {n} was already used by {sameSequence.Hash}");
        if (n == 1 && !candidate.PreviousHash.IsEmpty)
            return new ChainVerdict(ChainVerdictKind.Fork, "the first submission names a previous one");
        if (n > 1 && candidate.PreviousHash.IsEmpty)
            return new ChainVerdict(ChainVerdictKind.Fork, $"sequence {n} names no previous submission");
        if (predecessor is not null && predecessor.Hash != candidate.PreviousHash)
            return new ChainVerdict(ChainVerdictKind.Fork,
                $"sequence {n} follows {candidate.PreviousHash}, but the accepted sequence {n - 1} is {predecessor.Hash}");
        if (successor is not null && successor.PreviousHash != candidate.Hash)
            return new ChainVerdict(ChainVerdictKind.Fork,
                $"the accepted sequence {n + 1} follows {successor.PreviousHash}, not this submission");
        if (n > 1 && predecessor is null && (head is null || n > head.Sequence))
        {
            ulong from = head is null ? 1 : head.Sequence + 1;
            if (from <= n - 1)
                return new ChainVerdict(ChainVerdictKind.Gap, $"sequences {from}..{n - 1} have not arrived", from, n - 1);
        }
        return new ChainVerdict(ChainVerdictKind.Linked, "");
    }
}

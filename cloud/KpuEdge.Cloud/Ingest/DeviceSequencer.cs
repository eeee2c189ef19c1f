using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Crypto;

namespace KpuEdge.Cloud.Ingest;

public enum SequencingKind
{
    /// <summary>New and fits the device's chain: to be written.</summary>
    Accept,
    /// <summary>The very bytes already accepted: answered with the entry that holds them, counted once.</summary>
    Duplicate,
    /// <summary>Refused for the device's history: a fork, rewind or jump, a correction without reason, too many versions.</summary>
    Refuse,
}

/// <param name="Known">For a duplicate, the accepted link that holds the same bytes.</param>
/// <param name="Verdict">The chain's verdict (for a refusal for the chain, and for a gap on acceptance).</param>
/// <param name="Conflicting">For a fork, the accepted form already holding the sequence number.</param>
public sealed record SequencingDecision(
    SequencingKind Kind, DeviceLink? Known = null, string? Reason = null, string? Detail = null, ChainVerdict? Verdict = null, Sha256Hash? Conflicting = null);

/// <summary>
/// Everything one device has had accepted, and the judgement of its next form against it: duplicates, the chain
/// (forks, rewinds, jumps, gaps — <see cref="DeviceChain"/>), corrections and their number. Pure: the device's grain holds
/// one, loaded from the ledger, and adds a link only once the ledger has committed it.
/// </summary>
public sealed class DeviceSequencer
{
    private readonly SortedDictionary<ulong, DeviceLink> _links = new();

    public DeviceSequencer(IEnumerable<DeviceLink> links)
    {
        foreach (var link in links) _links[link.Link.Sequence] = link;
    }

    /// <summary>Accepted links of the device.</summary>
    public int Count => _links.Count;

    /// <summary>The device's highest accepted link, if any.</summary>
    public ChainLink? Head => _links.Count == 0 ? null : _links.Last().Value.Link;

    public SequencingDecision Judge(Submission s, Sha256Hash hash, ulong maxJump, int maxVersions)
    {
        var candidate = new ChainLink(s.Sequence, hash, s.PreviousHash, s.DeviceTime);
        var head = Head;
        _links.TryGetValue(s.Sequence, out var same);
        if (same is not null && same.Link.Hash == hash) return new SequencingDecision(SequencingKind.Duplicate, Known: same);
        var predecessor = s.Sequence > 0 && _links.TryGetValue(s.Sequence - 1, out var p) ? p.Link : null;
        var successor = s.Sequence < ulong.MaxValue && _links.TryGetValue(s.Sequence + 1, out var n) ? n.Link : null;

        var verdict = DeviceChain.Judge(candidate, head, predecessor, same?.Link, successor, maxJump);
        if (verdict.Refused)
        {
            string reason = verdict.Kind switch
            {
                ChainVerdictKind.Fork => RejectReasons.ChainFork,
                ChainVerdictKind.Rewind => RejectReasons.ChainRewind,
                _ => RejectReasons.ChainJump,
            };
            return new SequencingDecision(SequencingKind.Refuse, Reason: reason, Detail: $"Device '{s.DeviceId}': {verdict.Detail}.",
                Verdict: verdict, Conflicting: same?.Link.Hash);
        }

        // A second form of the device for this TPS and contest must say why it replaces the first; an older one arriving
        // after its correction is history and needs no reason.
        var versions = _links.Values.Where(l => l.Tps == s.Tps && l.Contest == s.Contest).Select(l => l.Link.Sequence).ToList();
        var replaced = versions.Where(v => v < s.Sequence).ToList();
        if (s.CorrectionReason is null && replaced.Count > 0)
            return new SequencingDecision(SequencingKind.Refuse, Reason: RejectReasons.CorrectionWithoutReason,
                Detail: $"Device '{s.DeviceId}' already sent {s.Contest.Slug()} of TPS {s.Tps} (sequence {replaced.Max()}); a newer version must carry a correction reason.");
        // Corrections are a handful at most; a device signing thousands is flooding the log and the TPS's page.
        if (versions.Count >= maxVersions)
            return new SequencingDecision(SequencingKind.Refuse, Reason: RejectReasons.TooManyVersions,
                Detail: $"Device '{s.DeviceId}' already has {versions.Count} versions of {s.Contest.Slug()} of TPS {s.Tps}; at most {maxVersions} are kept.");
        return new SequencingDecision(SequencingKind.Accept, Verdict: verdict);
    }

    /// <summary>Adds a link the ledger committed.</summary>
    public void Add(DeviceLink link) => _links[link.Link.Sequence] = link;
}

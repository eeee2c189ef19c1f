using KpuEdge.Cloud.Ledger;
using KpuEdge.Crypto;
using Microsoft.Extensions.Options;
using Orleans.Placement;

namespace KpuEdge.Cloud.Ingest;

[GenerateSerializer]
public enum DeviceAnswerKind
{
    Accepted,
    Duplicate,
    Refused,
}

/// <summary>A device grain's word on one form: where it was written (or already stood), or why the device's history refuses it.</summary>
/// <param name="LogEnd">For an accepted form, the log size after the commit that wrote it (a node's tree catches up to it).</param>
/// <param name="Verdict">The chain's verdict: why it was refused, or a gap on acceptance.</param>
/// <param name="ConflictingHash">For a fork, the accepted form that already holds the sequence number.</param>
[GenerateSerializer, Immutable, Alias("kpu.DeviceAnswer")]
public sealed record DeviceAnswer(
    [property: Id(0)] DeviceAnswerKind Kind,
    [property: Id(1)] long Position = -1,
    [property: Id(2)] long LogIndex = -1,
    [property: Id(3)] long LogEnd = 0,
    [property: Id(4)] string? Reason = null,
    [property: Id(5)] string? Detail = null,
    [property: Id(6)] ChainVerdictKind? Verdict = null,
    [property: Id(7)] string? VerdictDetail = null,
    [property: Id(8)] byte[]? ConflictingHash = null);

/// <summary>
/// The one place a device's forms are sequenced, whichever node they arrive on: duplicates, forks, rewinds, jumps and
/// corrections are decided against everything the device has had accepted, and an accepted form is written before
/// the answer. Keyed by device id.
/// </summary>
[Alias("kpu.IDeviceGrain")]
public interface IDeviceGrain : IGrainWithStringKey
{
    /// <summary>
    /// Sequences one form (its signature, device, address and rules already checked by the ingest that received it)
    /// and, if accepted, writes it to the ledger before answering.
    /// </summary>
    [Alias("Submit")]
    Task<DeviceAnswer> Submit(byte[] wire, DateTimeOffset receivedAt);
}

/// <summary>
/// Activates on the node the form arrived on (a device sends to its own node), loads the device's chain from the
/// ledger, and handles one form at a time: the grain is the lock. Its links change only after the ledger committed,
/// so a failed commit leaves nothing to undo. If the ledger says another writer got there first (a second activation
/// during a membership change), the grain reloads the chain from the ledger and judges again.
/// </summary>
[PreferLocalPlacement]
[CollectionAgeLimit(Minutes = 2)] // Idle after its burst of forms; a later form reloads the chain from the ledger.
public sealed class DeviceGrain(IDeviceChains chains, LedgerWriter writer, IOptions<CloudOptions> options) : Grain, IDeviceGrain
{
    private DeviceSequencer _sequencer = new([]);

    public override async Task OnActivateAsync(CancellationToken cancellationToken) =>
        _sequencer = new DeviceSequencer(await chains.DeviceLinksAsync(this.GetPrimaryKeyString(), cancellationToken));

    public async Task<DeviceAnswer> Submit(byte[] wire, DateTimeOffset receivedAt)
    {
        var signed = SignedSubmission.Decode(wire);
        var s = signed.Submission;
        if (s.DeviceId != this.GetPrimaryKeyString())
            throw new ArgumentException($"A form of device '{s.DeviceId}' was handed to the grain of '{this.GetPrimaryKeyString()}'.", nameof(wire));
        for (int attempt = 0; ; attempt++)
        {
            var decision = _sequencer.Judge(s, signed.Hash, options.Value.MaxSequenceJump, options.Value.MaxVersionsPerForm);
            switch (decision.Kind)
            {
                case SequencingKind.Duplicate:
                    return new DeviceAnswer(DeviceAnswerKind.Duplicate, decision.Known!.Position, decision.Known.LogIndex);
                case SequencingKind.Refuse:
                    return new DeviceAnswer(DeviceAnswerKind.Refused, Reason: decision.Reason, Detail: decision.Detail,
                        Verdict: decision.Verdict?.Kind, VerdictDetail: decision.Verdict?.Detail, ConflictingHash: decision.Conflicting?.ToArray());
            }
            var result = await writer.AppendAsync(new LedgerBatch { Accepted = [(signed, receivedAt)] });
            if (result.Conflicts.Count == 0)
            {
                var link = new DeviceLink(new ChainLink(s.Sequence, signed.Hash, s.PreviousHash, s.DeviceTime), s.Tps, s.Contest,
                    result.Positions[0], result.SubmissionLogIndexes[0]);
                _sequencer.Add(link);
                return new DeviceAnswer(DeviceAnswerKind.Accepted, link.Position, link.LogIndex, result.LogEnd,
                    Verdict: decision.Verdict?.Kind, VerdictDetail: decision.Verdict?.Detail);
            }
            if (attempt > 0)
                throw new InvalidOperationException($"The ledger holds a conflicting form of '{s.DeviceId}' sequence {s.Sequence} that its chain does not show.");
            _sequencer = new DeviceSequencer(await chains.DeviceLinksAsync(s.DeviceId));
        }
    }
}

using KpuEdge.Cloud.Ingest;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// <see cref="DeviceSequencer"/> on its own — what a device's grain decides, whichever node a form arrives on — with no
/// broker, silo or ledger: duplicates, the chain, corrections and their number, and that only committed links count.
/// </summary>
public sealed class DeviceSequencerTests
{
    private static readonly TpsCode Tps = CloudFixture.Tree.TpsIn(CloudFixture.Tree.Nasional.Children[0]).First();
    private static readonly DateTimeOffset T0 = new(2024, 2, 14, 13, 0, 0, TimeSpan.Zero);
    private const ulong MaxJump = 1_000;
    private const int MaxVersions = 3;

    private static C1Tally TallyFor(ContestId contest) =>
        SyntheticTally.ForTps(Tps, CloudFixture.Ballots, CloudFixture.Election, 7).Single(t => t.Contest == contest);

    private static Sha256Hash H(ulong n, string salt = "") => Sha256Hash.Of(System.Text.Encoding.UTF8.GetBytes($"{salt}{n}"));

    /// <summary>The device's genuine form n: it names n−1, signed a minute after it.</summary>
    private static Submission Form(ulong n, ContestId contest = ContestId.Ppwp, string? correction = null) => new()
    {
        ElectionId = CloudFixture.Election.ElectionId, DeviceId = "dev-seq", Sequence = n, PreviousHash = n == 1 ? default : H(n - 1),
        DeviceTime = T0.AddMinutes(n), Tally = TallyFor(contest), CorrectionReason = correction,
    };

    private static DeviceLink Committed(Submission s, long position) =>
        new(new ChainLink(s.Sequence, H(s.Sequence), s.PreviousHash, s.DeviceTime), s.Tps, s.Contest, position, position - 1);

    private static SequencingDecision Judge(DeviceSequencer sequencer, Submission s, Sha256Hash? hash = null) =>
        sequencer.Judge(s, hash ?? H(s.Sequence), MaxJump, MaxVersions);

    [Fact]
    public void Accepts_a_first_form_and_answers_its_resend_with_the_entry_that_holds_it()
    {
        var sequencer = new DeviceSequencer([]);
        Assert.Equal(SequencingKind.Accept, Judge(sequencer, Form(1)).Kind);
        sequencer.Add(Committed(Form(1), 41));

        var again = Judge(sequencer, Form(1));
        Assert.Equal(SequencingKind.Duplicate, again.Kind);
        Assert.Equal((41L, 40L), (again.Known!.Position, again.Known.LogIndex));
    }

    [Fact]
    public void A_decision_counts_nothing_until_the_ledger_committed_it()
    {
        var sequencer = new DeviceSequencer([]);
        Assert.Equal(SequencingKind.Accept, Judge(sequencer, Form(1)).Kind);
        // The commit failed: the same form is new again, not a duplicate of something never written.
        Assert.Equal(SequencingKind.Accept, Judge(sequencer, Form(1)).Kind);
        Assert.Null(sequencer.Head);
    }

    [Fact]
    public void Refuses_a_second_form_with_a_used_number_naming_the_form_that_holds_it()
    {
        var sequencer = new DeviceSequencer([Committed(Form(1), 1)]);
        var fork = Judge(sequencer, Form(1, ContestId.Dpr), H(1, "other"));
        Assert.Equal((SequencingKind.Refuse, RejectReasons.ChainFork), (fork.Kind, fork.Reason));
        Assert.Equal(H(1), fork.Conflicting);
        Assert.Equal(ChainVerdictKind.Fork, fork.Verdict!.Kind);
    }

    [Fact]
    public void Refuses_a_rewound_counter_and_a_number_far_beyond_the_chain()
    {
        var sequencer = new DeviceSequencer([Committed(Form(1), 1), Committed(Form(2, ContestId.Dpr), 2), Committed(Form(3, ContestId.Dpd), 3)]);
        var rewound = Form(2, ContestId.DprdProvinsi) with { DeviceTime = T0.AddHours(5) };
        Assert.Equal(RejectReasons.ChainRewind, Judge(sequencer, rewound, H(2, "again")).Reason);
        Assert.Equal(RejectReasons.ChainJump, Judge(sequencer, Form(3 + MaxJump + 1, ContestId.DprdProvinsi)).Reason);
    }

    [Fact]
    public void Accepts_forms_out_of_order_and_reports_the_gap_it_leaves()
    {
        var sequencer = new DeviceSequencer([Committed(Form(1), 1)]);
        var third = Judge(sequencer, Form(3, ContestId.Dpd));
        Assert.Equal((SequencingKind.Accept, ChainVerdictKind.Gap), (third.Kind, third.Verdict!.Kind));
        sequencer.Add(Committed(Form(3, ContestId.Dpd), 2));
        // The missing form arrives late: it fits between its committed neighbours.
        Assert.Equal(SequencingKind.Accept, Judge(sequencer, Form(2, ContestId.Dpr)).Kind);
    }

    [Fact]
    public void A_newer_version_of_a_form_needs_a_reason_and_their_number_is_bounded()
    {
        var sequencer = new DeviceSequencer([Committed(Form(1), 1)]);
        Assert.Equal(RejectReasons.CorrectionWithoutReason, Judge(sequencer, Form(2)).Reason);
        Assert.Equal(SequencingKind.Accept, Judge(sequencer, Form(2, correction: "salah tulis")).Kind);
        sequencer.Add(Committed(Form(2, correction: "salah tulis"), 2));
        sequencer.Add(Committed(Form(3, correction: "salah tulis lagi"), 3));
        // Another contest of the same TPS is not a correction.
        Assert.Equal(SequencingKind.Accept, Judge(sequencer, Form(4, ContestId.Dpr)).Kind);
        var fourth = Judge(sequencer, Form(4, correction: "sekali lagi"));
        Assert.Equal(RejectReasons.TooManyVersions, fourth.Reason);
    }

    [Fact]
    public void An_older_version_arriving_after_its_correction_needs_no_reason()
    {
        var sequencer = new DeviceSequencer([Committed(Form(2, correction: "salah tulis"), 1)]);
        Assert.Equal(SequencingKind.Accept, Judge(sequencer, Form(1)).Kind);
    }
}

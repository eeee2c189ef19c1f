using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Edge.Device;

namespace KpuEdge.Edge.Tests;

/// <summary>A fixed clock: the device's time goes into what it signs.</summary>
internal sealed class FixedTime(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}

public sealed class FormSignerTests
{
    private static readonly RegionTree Tree = RegionTree.LoadEmbedded();
    private static readonly ElectionDefinition Election = ElectionDefinition.Default;
    private static readonly TpsCode Tps = TpsCode.Parse("3273011001003");
    private static readonly DeviceIdentity Device = new("dev-test", Tps, DeviceKey.Deterministic("dev-test", 1));
    private static readonly TimeProvider Clock = new FixedTime(new DateTimeOffset(2024, 2, 14, 14, 0, 0, TimeSpan.FromHours(7)));

    private static FormSigner NewSigner() => new(Device, Election, Election.Ballots(Tree), Clock);

    private static IReadOnlyList<C1Tally> Tallies() => SyntheticTally.ForTps(Tps, Election.Ballots(Tree), Election, 5);

    [Fact]
    public void Chains_each_form_to_the_previous_one_with_increasing_sequence_numbers()
    {
        var signer = NewSigner();
        var signed = Tallies().Select(t => signer.Sign(t)).ToArray();

        Assert.Equal([1UL, 2UL, 3UL, 4UL, 5UL], signed.Select(s => s.Submission.Sequence));
        Assert.True(signed[0].Submission.PreviousHash.IsEmpty);
        for (int i = 1; i < signed.Length; i++) Assert.Equal(signed[i - 1].Hash, signed[i].Submission.PreviousHash);
        Assert.All(signed, s => Assert.True(s.VerifySignature(Device.Key.PublicKey)));
        Assert.Equal(5UL, signer.Chain.Sequence);
    }

    [Fact]
    public void Never_signs_a_tally_that_breaks_a_rule_and_names_the_rule()
    {
        var signer = NewSigner();
        var tally = Tallies()[0];
        var misread = tally with { SuaraSah = tally.SuaraSah + 890 };

        var e = Assert.Throws<TallyRejectedException>(() => signer.Sign(misread));

        Assert.Contains(e.Violations, v => v.Rule == C1Validator.Rules.VotesSumIsSah && v.Field == "suara_sah");
        Assert.Equal(0UL, signer.Chain.Sequence); // nothing was used up
    }

    [Fact]
    public void Refuses_a_tally_of_another_TPS()
    {
        var other = TpsCode.Parse("3273011001004");
        var tally = SyntheticTally.ForTps(other, Election.Ballots(Tree), Election, 5)[0];
        Assert.Throws<InvalidOperationException>(() => NewSigner().Sign(tally));
    }

    [Fact]
    public void Refuses_a_tally_whose_choices_are_not_those_of_the_ballot()
    {
        var tally = Tallies().Single(t => t.Contest == ContestId.Dpr);
        var missingParty = tally with { Suara = tally.Suara.Skip(1).ToArray(), SuaraSah = tally.SuaraSah - tally.Suara[0].Total, SuaraTidakSah = tally.SuaraTidakSah + tally.Suara[0].Total };
        var e = Assert.Throws<TallyRejectedException>(() => NewSigner().Sign(missingParty));
        Assert.Contains(e.Violations, v => v.Rule == C1Validator.Rules.BallotStructure);
    }

    [Fact]
    public void Persists_its_chain_so_a_restarted_device_never_reuses_a_sequence_number()
    {
        string path = Path.Combine(Path.GetTempPath(), $"kpu-chain-{Guid.NewGuid():N}.json");
        try
        {
            var first = NewSigner();
            var a = first.Sign(Tallies()[0]);
            first.Chain.Save(path);

            var restarted = NewSigner();
            restarted.Chain = ChainState.Load(path);
            var b = restarted.Sign(Tallies()[1]);

            Assert.Equal(2UL, b.Submission.Sequence);
            Assert.Equal(a.Hash, b.Submission.PreviousHash);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Saves_the_device_key_readable_by_its_owner_only_and_loads_it_back()
    {
        string path = Path.Combine(Path.GetTempPath(), $"kpu-key-{Guid.NewGuid():N}.json");
        try
        {
            Device.Save(path);
            var loaded = DeviceIdentity.Load(path);

            Assert.Equal(Device.DeviceId, loaded.DeviceId);
            Assert.Equal(Device.Tps, loaded.Tps);
            Assert.Equal(Device.Key.PublicKey.Encoded, loaded.Key.PublicKey.Encoded);
            if (!OperatingSystem.IsWindows())
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }
        finally
        {
            File.Delete(path);
        }
    }
}

using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Simulator;
using Xunit;

namespace KpuEdge.Cloud.Tests;

/// <summary>The national run's provisioned fleet: made once, read back the same, made again when it cannot be trusted.</summary>
public sealed class FleetTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "kpu-fleet-" + Guid.NewGuid().ToString("N"));
    private static readonly RegionTree Tree = RegionTree.LoadEmbedded();
    private static readonly ElectionDefinition Election = ElectionDefinition.Default;

    public void Dispose()
    {
        if (Directory.Exists(_directory)) Directory.Delete(_directory, recursive: true);
    }

    /// <summary>Two kecamatan: one in Jakarta (four contests) and one elsewhere (five).</summary>
    private static IGrouping<string, TpsCode>[] Sample() =>
        Tree.TpsIn(RegionCode.Nasional).GroupBy(t => t.Value[..6])
            .Where(k => k.Count() <= 40)
            .GroupBy(k => k.Key.StartsWith("31", StringComparison.Ordinal))
            .Select(g => g.First()).ToArray();

    [Fact]
    public void A_fleet_is_provisioned_once_and_read_back_signed_by_its_own_devices()
    {
        var sample = Sample();
        var fleet = Fleet.OpenOrProvision(_directory, sample, Election, seed: 7, TimeProvider.System, out bool provisioned);
        Assert.True(provisioned);
        Assert.Equal(sample.Length, fleet.KecamatanCount);
        Assert.Equal(sample.Sum(k => k.Count()), fleet.DeviceCount);

        var ballots = Election.Ballots(Tree);
        long forms = 0;
        foreach (var (kecamatan, read) in sample.Zip(fleet.Read()))
        {
            Assert.Equal(kecamatan.Key, read.Code);
            Assert.Equal(kecamatan.Select(t => $"dev-{t}"), read.Devices.Select(d => d.Certificate.CommonName));
            foreach (var device in read.Devices)
            {
                var record = DeviceRecord.FromCertificate(device.Certificate);
                Assert.Equal(SyntheticTally.ForTps(record.Tps, ballots, Election, 7).Count(), device.Forms.Count);
                // Each device's own chain, signed by its own key.
                Assert.All(device.Forms, f => Assert.True(f.VerifySignature(record.PublicKey)));
                Assert.Equal(Enumerable.Range(1, device.Forms.Count).Select(i => (ulong)i), device.Forms.Select(f => f.Submission.Sequence));
                forms += device.Forms.Count;
            }
        }
        Assert.Equal(forms, fleet.FormCount);
        // Jakarta holds no DPRD provinsi contest: four forms a TPS there, five elsewhere.
        Assert.Equal(sample.Sum(k => k.Count() * (k.Key.StartsWith("31", StringComparison.Ordinal) ? 4 : 5)), forms);

        var again = Fleet.OpenOrProvision(_directory, sample, Election, seed: 7, TimeProvider.System, out bool provisionedAgain);
        Assert.False(provisionedAgain);
        Assert.Equal(fleet.FormCount, again.FormCount);
        Assert.Equal(fleet.Pki.LogKey.Format(), again.Pki.LogKey.Format());
        Assert.Equal(fleet.Certificates().Select(c => c.Der), again.Certificates().Select(c => c.Der));
    }

    [Fact]
    public void A_truncated_or_different_fleet_is_provisioned_again()
    {
        var sample = Sample();
        Fleet.OpenOrProvision(_directory, sample, Election, seed: 7, TimeProvider.System, out _);
        string file = Path.Combine(_directory, "fleet.bin");
        using (var stream = File.OpenWrite(file)) stream.SetLength(stream.Length - 10);
        Fleet.OpenOrProvision(_directory, sample, Election, seed: 7, TimeProvider.System, out bool afterTruncation);
        Assert.True(afterTruncation);

        Fleet.OpenOrProvision(_directory, sample[..1], Election, seed: 7, TimeProvider.System, out bool forAnotherSample);
        Assert.True(forAnotherSample);
    }
}

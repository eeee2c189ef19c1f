using KpuEdge.Cloud.Security;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto.Pki;

namespace KpuEdge.Cloud.Tests;

/// <summary>Who may publish and subscribe where: forms and images of one's own TPS (a PPK: its kecamatan's), one's own answers.</summary>
public sealed class TopicAclTests
{
    private static readonly TpsCode Own = TpsCode.Parse("9171010001001");
    private static readonly TpsCode Neighbour = TpsCode.Parse("9171010001002");
    private static readonly TpsCode Elsewhere = TpsCode.Parse("9171020001001");
    private static readonly KpuIdentity Tps = new("dev-tps", KpuRole.Tps, Own.Value, "pemilu-2024");
    private static readonly KpuIdentity Ppk = new("dev-ppk", KpuRole.Ppk, "917101", "pemilu-2024");
    private static readonly KpuIdentity Service = new("kpu-ingest", KpuRole.Service, "", "pemilu-2024");

    [Fact]
    public void A_TPS_device_publishes_forms_and_images_of_its_own_TPS_only_under_its_own_name()
    {
        Assert.True(TopicAcl.MayPublish(Tps, Topics.Submission(Own, ContestId.Dpr, Tps.Name)));
        Assert.True(TopicAcl.MayPublish(Tps, Topics.Image(Own, ContestId.Dpr, Tps.Name)));
        Assert.False(TopicAcl.MayPublish(Tps, Topics.Image(Neighbour, ContestId.Dpr, Tps.Name)));
        Assert.False(TopicAcl.MayPublish(Tps, Topics.Submission(Neighbour, ContestId.Dpr, Tps.Name)));
        // Its own TPS, but in another's name: the cloud would answer that other device.
        Assert.False(TopicAcl.MayPublish(Tps, Topics.Submission(Own, ContestId.Dpr, "dev-other")));
        Assert.False(TopicAcl.MayPublish(Tps, Topics.Image(Own, ContestId.Dpr, "dev-other")));
        Assert.False(TopicAcl.MayPublish(Tps, Topics.ImageAck(Tps.Name)));
        Assert.False(TopicAcl.MayPublish(Tps, $"kpu/v1/tps/{Own}/img/+/{Tps.Name}"));
        Assert.False(TopicAcl.MayPublish(Tps, $"kpu/v1/tps/{Own}/c1/dpr"));
    }

    [Fact]
    public void A_PPK_station_relays_forms_and_images_of_its_kecamatan_only_under_its_own_name()
    {
        Assert.True(TopicAcl.MayPublish(Ppk, Topics.Image(Neighbour, ContestId.Ppwp, Ppk.Name)));
        Assert.True(TopicAcl.MayPublish(Ppk, Topics.Submission(Own, ContestId.Ppwp, Ppk.Name)));
        Assert.False(TopicAcl.MayPublish(Ppk, Topics.Image(Elsewhere, ContestId.Ppwp, Ppk.Name)));
        Assert.False(TopicAcl.MayPublish(Ppk, Topics.Submission(Own, ContestId.Ppwp, Tps.Name)));
    }

    [Fact]
    public void Devices_hear_only_their_own_answers_and_the_cloud_reads_forms_and_images()
    {
        Assert.True(TopicAcl.MaySubscribe(Tps, Topics.ImageAck(Tps.Name)));
        Assert.True(TopicAcl.MaySubscribe(Tps, Topics.Receipt(Tps.Name)));
        Assert.False(TopicAcl.MaySubscribe(Tps, Topics.ImageAck("dev-other")));
        Assert.False(TopicAcl.MaySubscribe(Tps, "kpu/v1/device/+/image"));
        Assert.False(TopicAcl.MaySubscribe(Tps, Topics.AllImages));
        Assert.True(TopicAcl.MaySubscribe(Service, Topics.AllImages));
        Assert.True(TopicAcl.MaySubscribe(Service, Topics.AllSubmissions));
        Assert.True(TopicAcl.MayPublish(Service, Topics.ImageAck("dev-tps")));
        Assert.False(TopicAcl.MayPublish(Service, "kpu/v1/device/+/image"));
        Assert.False(TopicAcl.MayPublish(Service, Topics.Image(Own, ContestId.Ppwp, Service.Name)));
    }
}

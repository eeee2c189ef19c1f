using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;

namespace KpuEdge.Core.Tests;

public class TopicsTests
{
    private static readonly TpsCode Tps = TpsCode.Parse("3273011001003");

    [Theory]
    [InlineData(ContestId.Ppwp, "kpu/v1/tps/3273011001003/c1/ppwp")]
    [InlineData(ContestId.Dpr, "kpu/v1/tps/3273011001003/c1/dpr")]
    [InlineData(ContestId.Dpd, "kpu/v1/tps/3273011001003/c1/dpd")]
    [InlineData(ContestId.DprdProvinsi, "kpu/v1/tps/3273011001003/c1/dprd-prov")]
    [InlineData(ContestId.DprdKabKota, "kpu/v1/tps/3273011001003/c1/dprd-kab")]
    public void A_submission_topic_names_the_TPS_and_the_contest(ContestId contest, string expected)
    {
        string topic = Topics.Submission(Tps, contest);
        Assert.Equal(expected, topic);

        Assert.True(Topics.TryParseSubmission(topic, out var tps, out var parsed));
        Assert.Equal(Tps, tps);
        Assert.Equal(contest, parsed);
    }

    [Fact]
    public void The_ingest_subscription_matches_the_submission_topic_shape()
    {
        Assert.Equal("kpu/v1/tps/+/c1/+", Topics.AllSubmissions);
        Assert.StartsWith(Topics.Prefix + "/", Topics.AllSubmissions);
    }

    [Theory]
    [InlineData("")]
    [InlineData("kpu/v1/tps/+/c1/+")]
    [InlineData("kpu/v1/tps/#")]
    [InlineData("kpu/v2/tps/3273011001003/c1/ppwp")]
    [InlineData("kpu/v1/tps/3273011001003/c2/ppwp")]
    [InlineData("kpu/v1/desa/3273011001003/c1/ppwp")]
    [InlineData("KPU/v1/tps/3273011001003/c1/ppwp")]
    [InlineData("/kpu/v1/tps/3273011001003/c1/ppwp")]
    [InlineData("kpu/v1/tps/3273011001003/c1/ppwp/")]
    [InlineData("kpu/v1/tps/3273011001003/c1/ppwp/extra")]
    [InlineData("kpu/v1/tps/3273011001003/c1")]
    [InlineData("kpu/v1/tps/3273011001003/c1/")]
    [InlineData("kpu/v1/tps/3273011001003/c1/pilkada")]
    [InlineData("kpu/v1/tps/3273011001/c1/ppwp")]
    [InlineData("kpu/v1/tps/3273011001000/c1/ppwp")]
    [InlineData("kpu/v1/tps/327301100100A/c1/ppwp")]
    [InlineData("kpu/v1/tps//c1/ppwp")]
    [InlineData("kpu/v1/device/dev-1/receipt")]
    public void Rejects_anything_but_a_submission_topic(string topic)
    {
        Assert.False(Topics.TryParseSubmission(topic, out _, out _));
    }

    [Fact]
    public void A_receipt_topic_names_the_device()
    {
        Assert.Equal("kpu/v1/device/dev-3273011001003-a/receipt", Topics.Receipt("dev-3273011001003-a"));
        Assert.True(Topics.IsReceiptTopic(Topics.Receipt("dev-3273011001003-a")));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("kpu/v1/device/+/receipt")]
    [InlineData("kpu/v1/device/#")]
    [InlineData("kpu/v1/device/dev-1/#")]
    [InlineData("kpu/v1/device/dev+1/receipt")]
    [InlineData("kpu/v1/device/dev#1/receipt")]
    [InlineData("kpu/v1/device/receipt")]
    [InlineData("kpu/v1/device/a/b/receipt")]
    [InlineData("kpu/v1/device/dev-1/receipts")]
    [InlineData("kpu/v1/device/dev-1/receipt/")]
    [InlineData("kpu/v2/device/dev-1/receipt")]
    [InlineData("other/kpu/v1/device/dev-1/receipt")]
    [InlineData("/kpu/v1/device/dev-1/receipt")]
    [InlineData("kpu/v1/tps/3273011001003/c1/ppwp")]
    [InlineData("$SYS/broker/clients")]
    public void Refuses_a_receipt_topic_outside_the_device_receipt_space(string? topic)
    {
        Assert.False(Topics.IsReceiptTopic(topic));
    }
}

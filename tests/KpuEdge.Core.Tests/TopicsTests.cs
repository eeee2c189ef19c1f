using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;

namespace KpuEdge.Core.Tests;

public class TopicsTests
{
    private static readonly TpsCode Tps = TpsCode.Parse("3273011001003");

    [Theory]
    [InlineData(ContestId.Ppwp, "kpu/v1/tps/3273011001003/c1/ppwp/dev-a")]
    [InlineData(ContestId.Dpr, "kpu/v1/tps/3273011001003/c1/dpr/dev-a")]
    [InlineData(ContestId.Dpd, "kpu/v1/tps/3273011001003/c1/dpd/dev-a")]
    [InlineData(ContestId.DprdProvinsi, "kpu/v1/tps/3273011001003/c1/dprd-prov/dev-a")]
    [InlineData(ContestId.DprdKabKota, "kpu/v1/tps/3273011001003/c1/dprd-kab/dev-a")]
    public void A_submission_topic_names_the_TPS_the_contest_and_the_sender(ContestId contest, string expected)
    {
        string topic = Topics.Submission(Tps, contest, "dev-a");
        Assert.Equal(expected, topic);

        Assert.True(Topics.TryParseSubmission(topic, out var parsed));
        Assert.Equal(new TpsTopic(Tps, contest, "dev-a"), parsed);
        Assert.False(Topics.TryParseImage(topic, out _));
    }

    [Fact]
    public void An_image_topic_names_the_TPS_the_contest_and_the_sender()
    {
        string topic = Topics.Image(Tps, ContestId.Dpd, "ppk-327301");
        Assert.Equal("kpu/v1/tps/3273011001003/img/dpd/ppk-327301", topic);
        Assert.True(Topics.TryParseImage(topic, out var parsed));
        Assert.Equal(new TpsTopic(Tps, ContestId.Dpd, "ppk-327301"), parsed);
        Assert.False(Topics.TryParseSubmission(topic, out _));
    }

    [Theory]
    [InlineData("")]
    [InlineData("dev/a")]
    [InlineData("dev+")]
    [InlineData("#")]
    [InlineData("dev a")]
    public void A_sender_that_would_change_the_topic_shape_is_refused(string sender)
    {
        Assert.Throws<ArgumentException>(() => Topics.Submission(Tps, ContestId.Ppwp, sender));
        Assert.Throws<ArgumentException>(() => Topics.Image(Tps, ContestId.Ppwp, sender));
    }

    [Fact]
    public void The_ingest_subscriptions_match_the_form_and_image_topic_shapes()
    {
        Assert.Equal("kpu/v1/tps/+/c1/+/+", Topics.AllSubmissions);
        Assert.Equal("kpu/v1/tps/+/img/+/+", Topics.AllImages);
        Assert.StartsWith(Topics.Prefix + "/", Topics.AllSubmissions);
    }

    [Theory]
    [InlineData("")]
    [InlineData("kpu/v1/tps/+/c1/+/+")]
    [InlineData("kpu/v1/tps/#")]
    [InlineData("kpu/v1/tps/3273011001003/c1/ppwp")]
    [InlineData("kpu/v2/tps/3273011001003/c1/ppwp/dev-a")]
    [InlineData("kpu/v1/tps/3273011001003/c2/ppwp/dev-a")]
    [InlineData("kpu/v1/desa/3273011001003/c1/ppwp/dev-a")]
    [InlineData("KPU/v1/tps/3273011001003/c1/ppwp/dev-a")]
    [InlineData("/kpu/v1/tps/3273011001003/c1/ppwp/dev-a")]
    [InlineData("kpu/v1/tps/3273011001003/c1/ppwp/dev-a/")]
    [InlineData("kpu/v1/tps/3273011001003/c1/ppwp/dev-a/extra")]
    [InlineData("kpu/v1/tps/3273011001003/c1/ppwp/")]
    [InlineData("kpu/v1/tps/3273011001003/c1/ppwp/+")]
    [InlineData("kpu/v1/tps/3273011001003/c1/ppwp/dev a")]
    [InlineData("kpu/v1/tps/3273011001003/c1//dev-a")]
    [InlineData("kpu/v1/tps/3273011001003/c1/pilkada/dev-a")]
    [InlineData("kpu/v1/tps/3273011001/c1/ppwp/dev-a")]
    [InlineData("kpu/v1/tps/3273011001000/c1/ppwp/dev-a")]
    [InlineData("kpu/v1/tps/327301100100A/c1/ppwp/dev-a")]
    [InlineData("kpu/v1/tps//c1/ppwp/dev-a")]
    [InlineData("kpu/v1/device/dev-1/receipt")]
    public void Rejects_anything_but_a_submission_topic(string topic)
    {
        Assert.False(Topics.TryParseSubmission(topic, out _));
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

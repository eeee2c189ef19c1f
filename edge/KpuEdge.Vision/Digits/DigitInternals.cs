using System.Runtime.CompilerServices;

// The digit tests check internals: the managed SVM evaluation against OpenCV's own predict, the split's cells,
// the cache's atomic save and the replacement of a damaged entry.
[assembly: InternalsVisibleTo("KpuEdge.Vision.Tests")]
// The CNN's training tool takes the training split as given (TrainingRaw) and the same distortions as the SVM (DigitAugment).
[assembly: InternalsVisibleTo("kpu-digit-training")]

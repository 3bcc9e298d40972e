// What a forest costs, outside Flink: microseconds per record to score and learn a point (and to explain it),
// and the bytes its state takes in a checkpoint (clickflow's ForestSerializer), for KDA's parameters.
//
//   java -cp connectors/build/clickflow-flink.jar:<flink-dist.jar> benchmarks/java/ForestCost.java \
//        RECORDS TREES SAMPLE DIMENSIONS SHINGLE
//
// Prints one JSON object.

import java.util.Random;

import io.clickflow.shaded.com.amazon.randomcutforest.RandomCutForest;
import io.clickflow.udf.ForestSerializer;

public class ForestCost {
    public static void main(String[] args) throws Exception {
        int records = Integer.parseInt(args[0]);
        int trees = Integer.parseInt(args[1]);
        int sample = Integer.parseInt(args[2]);
        int dimensions = Integer.parseInt(args[3]);
        int shingle = Integer.parseInt(args[4]);
        RandomCutForest forest = RandomCutForest.builder().dimensions(dimensions * shingle).shingleSize(shingle)
                .internalShinglingEnabled(true).numberOfTrees(trees).sampleSize(sample).timeDecay(1.0 / 100_000)
                .outputAfter(sample).randomSeed(0).parallelExecutionEnabled(false).build();
        Random random = new Random(1);
        double[][] points = new double[records][dimensions];
        for (double[] point : points) {
            for (int d = 0; d < dimensions; d++) {
                point[d] = random.nextGaussian();
            }
        }
        int warm = Math.min(records / 2, 5 * sample);
        for (int i = 0; i < warm; i++) {
            forest.getAnomalyScore(points[i]);
            forest.update(points[i]);
        }
        long start = System.nanoTime();
        double sink = 0;
        for (int i = warm; i < records; i++) {
            sink += forest.getAnomalyScore(points[i]);
            forest.update(points[i]);
        }
        double scoreMicros = (System.nanoTime() - start) / 1000.0 / (records - warm);
        start = System.nanoTime();
        int explained = Math.max(1, (records - warm) / 4);
        for (int i = 0; i < explained; i++) {
            sink += forest.getAnomalyAttribution(points[warm + i]).getHighLowSum();
        }
        double explainMicros = (System.nanoTime() - start) / 1000.0 / explained;
        byte[] state = ForestSerializer.toBytes(forest);
        start = System.nanoTime();
        ForestSerializer.fromBytes(state);
        double restoreMillis = (System.nanoTime() - start) / 1e6;
        System.out.printf(java.util.Locale.ROOT,
                "{\"trees\": %d, \"sample\": %d, \"dimensions\": %d, \"shingle\": %d, \"score_update_us\": %.1f, "
                        + "\"attribution_us\": %.1f, \"state_bytes\": %d, \"restore_ms\": %.1f, \"check\": %.3f}%n",
                trees, sample, dimensions, shingle, scoreMicros, explainMicros, state.length, restoreMillis,
                sink / records);
    }
}

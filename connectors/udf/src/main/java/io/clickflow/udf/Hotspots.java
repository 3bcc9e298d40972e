package io.clickflow.udf;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ArrayNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.api.dataview.MapView;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.types.Row;

/**
 * {@code HOTSPOTS(input => TABLE t [PARTITION BY k], windowSize, scanRadius,
 * minimumNumberOfPointsInAHotspot)}: KDA's dense regions among the last {@code windowSize} records'
 * numeric columns (the record itself included), as {@code HOTSPOTS_RESULT}, a JSON object
 * {@code {"hotspots": [{"density": d, "minValues": [...], "maxValues": [...]}, ...]}}, every input column
 * passed through.
 *
 * <p>The definition (KDA documented the parameters, not its algorithm; this is clickflow's, and the tests
 * hold it to an independent computation): two points are neighbours when their Euclidean distance is at
 * most {@code scanRadius}; a candidate is a connected group of neighbours; its box is each column's
 * minimum and maximum over its points, each side at least {@code scanRadius} wide (so a box of one
 * repeated point has a volume); its {@code density} is its share of the window's points over its box's
 * share of the window's box: 1 is the window's average density. A hotspot is a candidate with at least
 * {@code minimumNumberOfPointsInAHotspot} points and a density above 1; hotspots are listed densest first.
 */
@DataTypeHint("ROW<HOTSPOTS_RESULT STRING>")
public class Hotspots extends ProcessTableFunction<Row> {
    static final String NAME = "HOTSPOTS";

    /** The last windowSize points of a partition key, oldest first from {@code next} (a ring). */
    public static final class Window {
        double[] values; // windowSize * dimensions
        int dimensions;
        int next;
        int count;

        Window(int size, int dimensions) {
            this.values = new double[size * dimensions];
            this.dimensions = dimensions;
        }

        int size() {
            return values.length / dimensions;
        }

        void add(double[] point) {
            System.arraycopy(point, 0, values, next * dimensions, dimensions);
            next = (next + 1) % size();
            count = Math.min(count + 1, size());
        }

        /** The points held, oldest first. */
        double[][] points() {
            double[][] out = new double[count][];
            int first = count < size() ? 0 : next;
            for (int i = 0; i < count; i++) {
                int at = ((first + i) % size()) * dimensions;
                out[i] = Arrays.copyOfRange(values, at, at + dimensions);
            }
            return out;
        }
    }

    /** A partition key's window (in a map state, not a value state: see {@link RandomCutForestScore.Model}). */
    public static class State {
        @DataTypeHint(value = "RAW", bridgedTo = Window.class, rawSerializer = WindowSerializer.class)
        public Window window;
    }

    private transient int[] columns;

    public void eval(
            Context ctx,
            @StateHint(ttl = StateTtl.NONE) MapView<Integer, State> state,
            @ArgumentHint(
                            value = {
                                ArgumentTrait.SET_SEMANTIC_TABLE,
                                ArgumentTrait.OPTIONAL_PARTITION_BY,
                                ArgumentTrait.PASS_COLUMNS_THROUGH
                            },
                            name = "input")
                    Row input,
            @ArgumentHint(name = "windowSize") Integer windowSize,
            @ArgumentHint(name = "scanRadius") Double scanRadius,
            @ArgumentHint(name = "minimumNumberOfPointsInAHotspot") Integer minimumPoints)
            throws Exception {
        if (columns == null) {
            columns = ForestModel.numericColumns(ctx.tableSemanticsFor("input"), null, NAME);
            check(windowSize != null && windowSize >= 2 && windowSize <= 10_000,
                    "windowSize must be 2 to 10,000 records, got " + windowSize);
            check(scanRadius != null && scanRadius > 0 && Double.isFinite(scanRadius),
                    "scanRadius must be a positive number, got " + scanRadius);
            check(minimumPoints != null && minimumPoints >= 2 && minimumPoints <= windowSize,
                    "minimumNumberOfPointsInAHotspot must be 2 to windowSize (" + windowSize + "), got "
                            + minimumPoints);
        }
        double[] point = new double[columns.length];
        for (int i = 0; i < columns.length; i++) {
            Object value = input.getField(columns[i]);
            if (value == null || !Double.isFinite(((Number) value).doubleValue())) {
                collect(Row.of((String) null)); // a record without every coordinate is passed, not counted
                return;
            }
            point[i] = ((Number) value).doubleValue();
        }
        State held = state.get(0);
        if (held == null) {
            held = new State();
            held.window = new Window(windowSize, columns.length);
        }
        held.window.add(point);
        state.put(0, held);
        collect(Row.of(result(held.window.points(), scanRadius, minimumPoints)));
    }

    private static void check(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(NAME + ": " + message);
        }
    }

    /** The hotspots among {@code points}, as HOTSPOTS_RESULT's JSON. */
    static String result(double[][] points, double radius, int minimumPoints) {
        int n = points.length;
        int d = points[0].length;
        int[] group = new int[n];
        Arrays.fill(group, -1);
        int groups = 0;
        double r2 = radius * radius;
        int[] queue = new int[n];
        for (int start = 0; start < n; start++) {
            if (group[start] >= 0) {
                continue;
            }
            int head = 0;
            int tail = 0;
            queue[tail++] = start;
            group[start] = groups;
            while (head < tail) {
                double[] p = points[queue[head++]];
                for (int j = 0; j < n; j++) {
                    if (group[j] < 0 && distance2(p, points[j]) <= r2) {
                        group[j] = groups;
                        queue[tail++] = j;
                    }
                }
            }
            groups++;
        }
        double windowVolume = volume(points, null, -1, radius);
        List<double[]> found = new ArrayList<>(); // density, group
        for (int g = 0; g < groups; g++) {
            int members = 0;
            for (int i = 0; i < n; i++) {
                members += group[i] == g ? 1 : 0;
            }
            if (members < minimumPoints) {
                continue;
            }
            double density = ((double) members / n) / (volume(points, group, g, radius) / windowVolume);
            if (density > 1) {
                found.add(new double[] {density, g});
            }
        }
        found.sort((a, b) -> Double.compare(b[0], a[0]));
        ObjectNode json = Json.MAPPER.createObjectNode();
        ArrayNode hotspots = json.putArray("hotspots");
        for (double[] hotspot : found) {
            int g = (int) hotspot[1];
            double[][] box = box(points, group, g);
            ObjectNode out = hotspots.addObject();
            out.put("density", hotspot[0]);
            ArrayNode min = out.putArray("minValues");
            ArrayNode max = out.putArray("maxValues");
            for (int k = 0; k < d; k++) {
                min.add(box[0][k]);
                max.add(box[1][k]);
            }
        }
        return json.toString();
    }

    private static double distance2(double[] a, double[] b) {
        double sum = 0;
        for (int k = 0; k < a.length; k++) {
            double diff = a[k] - b[k];
            sum += diff * diff;
        }
        return sum;
    }

    /** Each column's minimum and maximum over the group's points (every point when {@code group} is null). */
    private static double[][] box(double[][] points, int[] group, int g) {
        int d = points[0].length;
        double[][] box = new double[2][d];
        Arrays.fill(box[0], Double.POSITIVE_INFINITY);
        Arrays.fill(box[1], Double.NEGATIVE_INFINITY);
        for (int i = 0; i < points.length; i++) {
            if (group == null || group[i] == g) {
                for (int k = 0; k < d; k++) {
                    box[0][k] = Math.min(box[0][k], points[i][k]);
                    box[1][k] = Math.max(box[1][k], points[i][k]);
                }
            }
        }
        return box;
    }

    private static double volume(double[][] points, int[] group, int g, double radius) {
        double[][] box = box(points, group, g);
        double volume = 1;
        for (int k = 0; k < box[0].length; k++) {
            volume *= Math.max(box[1][k] - box[0][k], radius);
        }
        return volume;
    }

    /** A window in Flink's state: its size, dimensions, ring position and values. */
    public static final class WindowSerializer extends TypeSerializerSingleton<Window> {
        @Override
        public boolean isImmutableType() {
            return false;
        }

        @Override
        public Window createInstance() {
            return null;
        }

        @Override
        public Window copy(Window from) {
            if (from == null) {
                return null;
            }
            Window copy = new Window(from.size(), from.dimensions);
            copy.values = from.values.clone();
            copy.next = from.next;
            copy.count = from.count;
            return copy;
        }

        @Override
        public Window copy(Window from, Window reuse) {
            return copy(from);
        }

        @Override
        public int getLength() {
            return -1;
        }

        @Override
        public void serialize(Window record, DataOutputView target) throws IOException {
            target.writeInt(record.size());
            target.writeInt(record.dimensions);
            target.writeInt(record.next);
            target.writeInt(record.count);
            for (double value : record.values) {
                target.writeDouble(value);
            }
        }

        @Override
        public Window deserialize(DataInputView source) throws IOException {
            Window window = new Window(source.readInt(), source.readInt());
            window.next = source.readInt();
            window.count = source.readInt();
            for (int i = 0; i < window.values.length; i++) {
                window.values[i] = source.readDouble();
            }
            return window;
        }

        @Override
        public Window deserialize(Window reuse, DataInputView source) throws IOException {
            return deserialize(source);
        }

        @Override
        public void copy(DataInputView source, DataOutputView target) throws IOException {
            serialize(deserialize(source), target);
        }

        @Override
        public TypeSerializerSnapshot<Window> snapshotConfiguration() {
            return new Snapshot();
        }

        /** The serializer's snapshot: nothing to configure. */
        public static final class Snapshot extends SimpleTypeSerializerSnapshot<Window> {
            public Snapshot() {
                super(WindowSerializer::new);
            }
        }
    }
}

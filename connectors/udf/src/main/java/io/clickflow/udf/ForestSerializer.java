package io.clickflow.udf;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;

import com.amazon.randomcutforest.RandomCutForest;
import com.amazon.randomcutforest.state.RandomCutForestMapper;
import com.amazon.randomcutforest.state.RandomCutForestState;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * A random cut forest in Flink's state, as the library's own state object ({@link RandomCutForestMapper}
 * with the trees and the samplers' replayable random state saved), so a forest restored from a
 * checkpoint or savepoint scores and updates exactly as the one that was saved would have.
 */
public final class ForestSerializer extends TypeSerializerSingleton<RandomCutForest> {

    static RandomCutForestMapper mapper() {
        RandomCutForestMapper mapper = new RandomCutForestMapper();
        mapper.setSaveTreeStateEnabled(true);
        mapper.setSaveExecutorContextEnabled(true);
        mapper.setSaveSamplerStateEnabled(true);
        mapper.setSaveCoordinatorStateEnabled(true);
        return mapper;
    }

    /** The forest's bytes: its library state object, Java-serialized. */
    public static byte[] toBytes(RandomCutForest forest) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(mapper().toState(forest));
        }
        return bytes.toByteArray();
    }

    public static RandomCutForest fromBytes(byte[] bytes) throws IOException {
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes)) {
            // the state's classes come from this jar, wherever Flink loaded it from
            @Override
            protected Class<?> resolveClass(java.io.ObjectStreamClass desc) throws IOException, ClassNotFoundException {
                return Class.forName(desc.getName(), false, ForestSerializer.class.getClassLoader());
            }
        }) {
            return mapper().toModel((RandomCutForestState) in.readObject());
        } catch (ClassNotFoundException e) {
            throw new IOException("a random cut forest in state could not be read: " + e.getMessage(), e);
        }
    }

    @Override
    public boolean isImmutableType() {
        return false;
    }

    @Override
    public RandomCutForest createInstance() {
        return null;
    }

    @Override
    public RandomCutForest copy(RandomCutForest from) {
        if (from == null) {
            return null;
        }
        try {
            return fromBytes(toBytes(from));
        } catch (IOException e) {
            throw new IllegalStateException("copying a random cut forest", e);
        }
    }

    @Override
    public RandomCutForest copy(RandomCutForest from, RandomCutForest reuse) {
        return copy(from);
    }

    @Override
    public int getLength() {
        return -1;
    }

    @Override
    public void serialize(RandomCutForest record, DataOutputView target) throws IOException {
        byte[] bytes = toBytes(record);
        target.writeInt(bytes.length);
        target.write(bytes);
    }

    @Override
    public RandomCutForest deserialize(DataInputView source) throws IOException {
        byte[] bytes = new byte[source.readInt()];
        source.readFully(bytes);
        return fromBytes(bytes);
    }

    @Override
    public RandomCutForest deserialize(RandomCutForest reuse, DataInputView source) throws IOException {
        return deserialize(source);
    }

    @Override
    public void copy(DataInputView source, DataOutputView target) throws IOException {
        int length = source.readInt();
        target.writeInt(length);
        target.write(source, length);
    }

    @Override
    public TypeSerializerSnapshot<RandomCutForest> snapshotConfiguration() {
        return new Snapshot();
    }

    /** The serializer's snapshot: nothing to configure. */
    public static final class Snapshot extends SimpleTypeSerializerSnapshot<RandomCutForest> {
        public Snapshot() {
            super(ForestSerializer::new);
        }
    }
}

// Ground truth for mesh-bridge's hessian2 layer: Caucho Hessian 4.0.38, the library Dubbo's
// hessian-lite was forked from, writes and reads the values our TypeScript codec must agree with.
//
//   java -cp <classes>:/usr/share/java/hessian.jar com.example.HessianGround write <dir>
//       writes one <case>.hessian file per case below (one hessian2 value each)
//   java -cp <classes>:/usr/share/java/hessian.jar com.example.HessianGround read <dir>
//       reads every *.hessian file in <dir> (sorted by name) and prints, one line each,
//       name<TAB>javaClassName<TAB>canonical value (see canon() for the notation)
//
// JDK 17 needs --add-opens java.base/java.lang=ALL-UNNAMED (Throwable's fields), and java.math /
// java.util for the plain-class serializer.
package com.example;

import com.caucho.hessian.io.AbstractSerializerFactory;
import com.caucho.hessian.io.BigDecimalDeserializer;
import com.caucho.hessian.io.Deserializer;
import com.caucho.hessian.io.Hessian2Input;
import com.caucho.hessian.io.Hessian2Output;
import com.caucho.hessian.io.HessianProtocolException;
import com.caucho.hessian.io.Serializer;
import com.caucho.hessian.io.SerializerFactory;
import com.caucho.hessian.io.StringValueSerializer;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.Serializable;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Date;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

public class HessianGround {
  public static void main(String[] args) throws Exception {
    if (args.length != 2 || !(args[0].equals("write") || args[0].equals("read"))) {
      System.err.println("usage: HessianGround write|read <dir>");
      System.exit(2);
    }
    File dir = new File(args[1]);
    if (args[0].equals("write")) {
      write(dir);
    } else {
      read(dir);
    }
  }

  /** Dubbo's hessian-lite writes BigDecimal as {value: toString()}; stock Caucho writes {scale, intVal}. */
  static SerializerFactory dubboFactory() {
    SerializerFactory factory = new SerializerFactory();
    factory.addFactory(new AbstractSerializerFactory() {
      @Override
      public Serializer getSerializer(Class cl) {
        return cl == BigDecimal.class ? new StringValueSerializer() : null;
      }

      @Override
      public Deserializer getDeserializer(Class cl) {
        // Caucho ships BigDecimalDeserializer (reads the {value} form) but does not register it:
        // without this, BigDecimal is built by JavaDeserializer and silently reads back as 0.
        return cl == BigDecimal.class ? new BigDecimalDeserializer() : null;
      }
    });
    return factory;
  }

  static Map<String, Object> cases() {
    Map<String, Object> c = new LinkedHashMap<>();
    c.put("string_ascii", "hello, dubbo");
    c.put("string_empty", "");
    c.put("string_unicode", "h\u00e9llo \u4e16\u754c \ud83d\ude00!");
    StringBuilder longString = new StringBuilder();
    for (int i = 0; i < 70000; i++) longString.append((char) ('a' + i % 26));
    c.put("string_long", longString.toString());
    c.put("int_zero", 0);
    c.put("int_small", 47);
    c.put("int_negative", -300);
    c.put("int_mid", 262143);
    c.put("int_max", Integer.MAX_VALUE);
    c.put("int_min", Integer.MIN_VALUE);
    c.put("long_small", 7L);
    c.put("long_int_range", 2147483647L);
    c.put("long_safe_max", 9007199254740991L);
    c.put("long_2p53_plus1", 9007199254740993L);
    c.put("long_max", Long.MAX_VALUE);
    c.put("long_min", Long.MIN_VALUE);
    c.put("long_neg_unsafe", -9007199254740993L);
    c.put("double_one", 1.0d);
    c.put("double_zero", 0.0d);
    c.put("double_half", 0.5d);
    c.put("double_mill", 12.345d);
    c.put("double_short", 1000.0d);
    c.put("double_tiny", -1e300d);
    c.put("double_pi", Math.PI);
    c.put("double_nan", Double.NaN);
    c.put("double_inf", Double.POSITIVE_INFINITY);
    c.put("bool_true", true);
    c.put("bool_false", false);
    c.put("null", null);
    c.put("date", new Date(1700000000123L));
    c.put("date_minute", new Date(1700000040000L));
    c.put("bigdecimal", new BigDecimal("12345.6789"));
    c.put("bigdecimal_big", new BigDecimal("-123456789012345678901234567890.000000001"));
    c.put("bytes", new byte[] {0, 1, 2, (byte) 0xfe, (byte) 0xff});
    byte[] big = new byte[5000];
    for (int i = 0; i < big.length; i++) big[i] = (byte) i;
    c.put("bytes_big", big);
    c.put("int_array", new int[] {1, -2, 300000});
    ArrayList<Object> list = new ArrayList<>();
    list.add("a");
    list.add(1);
    list.add(2L);
    list.add(9007199254740993L);
    c.put("list", list);
    HashMap<String, Object> map = new HashMap<>();
    map.put("name", "x");
    map.put("count", 3);
    map.put("big", Long.MAX_VALUE);
    c.put("map", map);
    c.put("enum", Color.GREEN);
    List<Color> colors = new ArrayList<>();
    colors.add(Color.RED);
    colors.add(Color.RED);
    c.put("enum_list", colors);
    Order order = new Order();
    order.id = "o-1";
    order.amount = 9007199254740993L;
    order.items = new ArrayList<>();
    order.items.add(new Item("apple", 3));
    order.items.add(new Item("pear", 1));
    c.put("order", order);
    c.put("exception", new IllegalStateException("boom"));
    return c;
  }

  static void write(File dir) throws IOException {
    dir.mkdirs();
    SerializerFactory factory = dubboFactory();
    for (Map.Entry<String, Object> e : cases().entrySet()) {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      Hessian2Output out = new Hessian2Output(bytes);
      out.setSerializerFactory(factory);
      out.writeObject(e.getValue());
      out.close();
      Files.write(new File(dir, e.getKey() + ".hessian").toPath(), bytes.toByteArray());
    }
  }

  static void read(File dir) throws IOException {
    File[] files = dir.listFiles((d, n) -> n.endsWith(".hessian"));
    if (files == null) throw new IOException("no such directory: " + dir);
    Arrays.sort(files);
    SerializerFactory factory = dubboFactory();
    for (File f : files) {
      String name = f.getName().substring(0, f.getName().length() - ".hessian".length());
      try (InputStream is = new FileInputStream(f)) {
        Hessian2Input in = new Hessian2Input(is);
        in.setSerializerFactory(factory);
        Object v = in.readObject();
        if (is.read() != -1) throw new HessianProtocolException("trailing bytes after the value");
        System.out.println(name + "\t" + (v == null ? "null" : v.getClass().getName()) + "\t" + canon(v));
      } catch (Exception e) {
        System.out.println(name + "\tERROR\t" + e.getClass().getName() + ": " + oneLine(e.getMessage()));
      }
    }
  }

  static String oneLine(String s) {
    return s == null ? "" : s.replace('\n', ' ').replace('\t', ' ');
  }

  /**
   * A canonical text form that keeps the Java type of every nested value:
   * null, "json string", Integer(1), Long(1), Double(1.0), Boolean(true), Date(ms),
   * BigDecimal(12.5), bytes(hex), int[1, 2], ArrayList[a, b], HashMap{k=v} (sorted by key),
   * Color.RED, Order{...}, IllegalStateException(message).
   */
  static String canon(Object v) {
    if (v == null) return "null";
    if (v instanceof String) return quote((String) v);
    if (v instanceof Integer || v instanceof Long || v instanceof Double || v instanceof Boolean
        || v instanceof Short || v instanceof Byte || v instanceof Float || v instanceof BigDecimal) {
      return v.getClass().getSimpleName() + "(" + v + ")";
    }
    if (v instanceof Date) return "Date(" + ((Date) v).getTime() + ")";
    if (v instanceof byte[]) {
      StringBuilder sb = new StringBuilder("bytes(");
      for (byte b : (byte[]) v) sb.append(String.format("%02x", b & 0xff));
      return sb.append(")").toString();
    }
    if (v instanceof int[]) return "int" + Arrays.toString((int[]) v);
    if (v instanceof long[]) return "long" + Arrays.toString((long[]) v);
    if (v instanceof double[]) return "double" + Arrays.toString((double[]) v);
    if (v instanceof Object[]) return canonList(v.getClass().getComponentType().getSimpleName() + "[]", Arrays.asList((Object[]) v));
    if (v instanceof List) return canonList(v.getClass().getSimpleName(), (List<?>) v);
    if (v instanceof Map) {
      TreeMap<String, String> sorted = new TreeMap<>();
      for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) sorted.put(canon(e.getKey()), canon(e.getValue()));
      StringBuilder sb = new StringBuilder(v.getClass().getSimpleName()).append("{");
      boolean first = true;
      for (Map.Entry<String, String> e : sorted.entrySet()) {
        if (!first) sb.append(", ");
        first = false;
        sb.append(e.getKey()).append("=").append(e.getValue());
      }
      return sb.append("}").toString();
    }
    if (v instanceof Enum) return v.getClass().getSimpleName() + "." + ((Enum<?>) v).name();
    if (v instanceof Throwable) return v.getClass().getSimpleName() + "(" + oneLine(((Throwable) v).getMessage()) + ")";
    return v.toString();
  }

  static String canonList(String prefix, List<?> list) {
    StringBuilder sb = new StringBuilder(prefix).append("[");
    for (int i = 0; i < list.size(); i++) {
      if (i > 0) sb.append(", ");
      sb.append(canon(list.get(i)));
    }
    return sb.append("]").toString();
  }

  /** JSON string with every non-ASCII UTF-16 unit escaped, so stdout's charset cannot matter. */
  static String quote(String s) {
    StringBuilder sb = new StringBuilder("\"");
    for (int i = 0; i < s.length(); i++) {
      char ch = s.charAt(i);
      if (ch == '"' || ch == '\\') sb.append('\\').append(ch);
      else if (ch < 0x20 || ch > 0x7e) sb.append(String.format("\\u%04x", (int) ch));
      else sb.append(ch);
    }
    return sb.append("\"").toString();
  }
}

enum Color { RED, GREEN, BLUE }

class Item implements Serializable {
  String name;
  int qty;

  Item() {}

  Item(String name, int qty) {
    this.name = name;
    this.qty = qty;
  }

  @Override
  public String toString() {
    return "Item{name=" + HessianGround.canon(name) + ", qty=" + HessianGround.canon(qty) + "}";
  }
}

class Order implements Serializable {
  String id;
  long amount;
  List<Item> items;

  @Override
  public String toString() {
    return "Order{id=" + HessianGround.canon(id) + ", amount=" + HessianGround.canon(amount) + ", items=" + HessianGround.canon(items) + "}";
  }
}

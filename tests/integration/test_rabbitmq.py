"""The real RabbitMQ: declare a quorum queue, publish with confirms, consume and ack."""
import pika

from bus.connection import connection_parameters


def test_declare_publish_consume_quorum_queue(settings, unique):
    conn = pika.BlockingConnection(connection_parameters(settings.amqp_url))
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        queue = f"test.platform.{unique}"
        ok = ch.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
        assert ok.method.message_count == 0
        ch.basic_publish("", queue, b'{"hello": "hefei"}', pika.BasicProperties(delivery_mode=2), mandatory=True)
        method, props, body = None, None, None
        for _ in range(50):
            method, props, body = ch.basic_get(queue, auto_ack=False)
            if method:
                break
            conn.sleep(0.1)
        assert body == b'{"hello": "hefei"}'
        ch.basic_ack(method.delivery_tag)
        assert ch.queue_declare(queue, passive=True).method.message_count == 0
        ch.queue_delete(queue)
    finally:
        conn.close()


def test_unroutable_mandatory_message_is_refused(settings, unique):
    conn = pika.BlockingConnection(connection_parameters(settings.amqp_url))
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        try:
            ch.basic_publish("", f"no.such.queue.{unique}", b"x", mandatory=True)
        except pika.exceptions.UnroutableError:
            pass
        else:
            raise AssertionError("an unroutable mandatory publish must be refused")
    finally:
        conn.close()
